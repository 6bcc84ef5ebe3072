"""The "how to read these numbers" statement every report carries.

Metric definitions, the final-k and AUC conventions, std with ddof=1, bootstrap settings, and the
statistical power available at the number of seeds used, so a reader does not over-read a table.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.analysis import compare
from harness.analysis.metrics import METRIC_DEFINITIONS


@dataclass(frozen=True)
class AnalysisSettings:
    """Settings that change the numbers in a report; all of them are printed with it."""

    k: int = 1                       # final metrics = mean of the last k evaluations
    auc: str = "trapezoid"           # AUC variant passed to per_run_metrics
    reps: int = 50_000               # bootstrap resamples for table CIs
    confidence: float = 0.95
    seed: int = 0                    # bootstrap RNG seed (tables and curves)
    curve_reps: int = 2_000          # bootstrap resamples for sample-efficiency curves


def methods_statement(settings: AnalysisSettings, n_seeds: int, alpha: float) -> list[str]:
    """Paragraphs (plain text, Unicode) describing the metrics and statistics of a report."""
    paragraphs = [f"{name}: {text}" for name, text in sorted(METRIC_DEFINITIONS.items())]
    paragraphs += [
        f"Final metrics are the mean of the last k={settings.k} evaluations of a run; AUC uses the "
        f"'{settings.auc}' variant.",
        "Standard deviations are sample standard deviations (ddof=1) of the runs in a cell: its seeds, "
        "pooled with the tasks (scenarios, eval sets) the table does not split by; medians and quartiles "
        "(linear interpolation) likewise. Significance marks and the comparison with published numbers "
        "use each seed's score averaged over the cell's tasks. Only seeds finished on every task of a "
        "cell count; failed runs are listed, never averaged in.",
        f"Interquartile means and probabilities of improvement carry {settings.confidence:.0%} "
        f"stratified bootstrap confidence intervals ({settings.reps:,} resamples for tables, "
        f"{settings.curve_reps:,} for curves; seed {settings.seed}), computed as rliable does.",
        f"Power: {compare.power_note(n_seeds, alpha)}",
    ]
    if n_seeds >= 2 and compare.power_welch(n_seeds, 1.0, alpha) < 0.5:
        paragraphs.append(
            f"So with {n_seeds} seeds a true one-standard-deviation difference is missed most of the time: "
            f"a cell without a mark is not evidence that two algorithms perform the same.")
    return paragraphs
