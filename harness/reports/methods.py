"""The "how to read these numbers" statement every report carries.

Metric definitions, the final-k and AUC conventions, std with ddof=1, bootstrap settings, and the
statistical power available at the number of seeds used, so a reader does not over-read a table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.analysis import compare
from harness.analysis.metrics import METRIC_DEFINITIONS

if TYPE_CHECKING:
    from harness.suite.models import Suite


@dataclass(frozen=True)
class AnalysisSettings:
    """Settings that change the numbers in a report; all of them are printed with it."""

    k: int = 1                       # final metrics = mean of the last k evaluations
    auc: str = "trapezoid"           # AUC variant passed to per_run_metrics
    reps: int = 50_000               # bootstrap resamples for table CIs
    confidence: float = 0.95
    seed: int = 0                    # bootstrap RNG seed (tables and curves)
    curve_reps: int = 2_000          # bootstrap resamples for sample-efficiency curves


TIME_LIMIT_TEXT = {
    "terminal": "a time-out ends the return like a game's end (no bootstrapping), as in PyMARL's SMAC results "
                "(SMAC's continuing_episode off)",
    "bootstrap": "a time-out is bootstrapped from the observation the time limit cut (the episode's end is "
                 "not part of the task)",
}


def protocol_statement(suite: "Suite") -> str:
    """The training protocol of a suite's runs: time-outs, environments per round, update cadence."""
    tuned = sorted(f"{a.name} {a.overrides['update_every']}" for a in suite.algorithm_entries
                   if "update_every" in a.overrides)
    tuned += sorted(f"{s.name} {s.overrides['update_every']}" for s in suite.scenario_entries
                    if "update_every" in s.overrides)
    cadence = ("one learner update per finished episode (PyMARL's episode runner), the algorithms' default"
               + (f"; episodes per update set in the suite: {', '.join(tuned)}" if tuned else ""))
    e = suite.evaluation
    return (f"Training protocol: time limit '{suite.training.time_limit}': {TIME_LIMIT_TEXT[suite.training.time_limit]}; "
            f"{suite.training.n_envs} environments collect episodes together; {cadence}. Evaluation: "
            f"{'greedy' if e.greedy else 'exploring'} policy, {e.episodes} episodes per set every {e.interval:,} "
            f"env steps, every run on the same evaluation starts (seed {e.seed}): common random "
            f"numbers, so algorithms are compared on identical starts, and the spread over seeds leaves out "
            f"start-to-start noise (intervals and tests describe these {e.episodes} starts, not fresh ones).")


def methods_statement(settings: AnalysisSettings, n_seeds: int, alpha: float,
                      suite: "Suite | None" = None) -> list[str]:
    """Paragraphs (plain text, Unicode) describing the protocol, metrics and statistics of a report."""
    paragraphs = [protocol_statement(suite)] if suite is not None else []
    paragraphs += [f"{name}: {text}" for name, text in sorted(METRIC_DEFINITIONS.items())]
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
