"""Per-run metrics: one number per run (and evaluation set and composition) from its learning curve.

The input is the tidy frame (one row per run × eval_set × composition × step × metric); the output
is a long frame with one row per run × eval_set × composition × per-run metric. Failed runs keep
their rows, with status "failed" and value NaN, so that reports list them instead of averaging
them in.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

AUC_VARIANTS = ("trapezoid", "mean")

RUN_COLUMNS = ["suite", "algorithm", "scenario", "eval_set", "composition", "seed", "run_id", "status"]
PER_RUN_COLUMNS = RUN_COLUMNS[:6] + ["run_id", "status", "metric", "value"]

# per-run metric -> (tidy-frame metric it is computed from, "final" or "auc")
PER_RUN_SOURCES: dict[str, tuple[str, str]] = {
    "final_win_rate": ("win_rate", "final"),
    "auc_win_rate": ("win_rate", "auc"),
    "final_return": ("return_mean", "final"),
    "auc_return": ("return_mean", "auc"),
    "final_episode_length": ("episode_length", "final"),
}

METRIC_DEFINITIONS: dict[str, str] = {
    "final_win_rate": "Mean of the win rate over the last k evaluations of a run (ordered by "
                      "environment step); the win rate of one evaluation is the share of its "
                      "evaluation episodes won.",
    "auc_win_rate": "Area under the win-rate learning curve divided by its step span: the trapezoid "
                    "rule over the actual evaluation steps, ∫ w(t) dt / (t_last − t_first) (variant "
                    "'trapezoid'), or the plain mean of the win rates at all evaluation points "
                    "(variant 'mean'). Both lie in [0, 1].",
    "final_return": "Mean over the last k evaluations of a run of the mean episode return of each "
                    "evaluation.",
    "auc_return": "Area under the mean-return learning curve divided by its step span, computed "
                  "like auc_win_rate.",
    "final_episode_length": "Mean over the last k evaluations of a run of the mean evaluation "
                            "episode length (in environment steps).",
}


def _sorted_by_step(steps, values) -> tuple[np.ndarray, np.ndarray]:
    steps = np.asarray(steps, dtype=float).ravel()
    values = np.asarray(values, dtype=float).ravel()
    if steps.shape != values.shape:
        raise ValueError(f"steps ({steps.size}) and values ({values.size}) differ in length")
    if steps.size == 0:
        raise ValueError("no evaluations: a per-run metric needs at least one (step, value) pair")
    order = np.argsort(steps, kind="stable")
    return steps[order], values[order]


def final_value(steps, values, k: int = 1) -> float:
    """Mean of the values at the last k evaluations, the evaluations ordered by step.

    Raises ValueError when the run has fewer than k evaluations.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k={k!r} must be a positive integer number of evaluations")
    _, values = _sorted_by_step(steps, values)
    if values.size < k:
        raise ValueError(f"final value over the last k={k} evaluations, but the run has only "
                         f"{values.size}")
    return float(np.mean(values[-int(k):]))


def trapezoid_area(steps, values) -> float:
    """Σ_i (t_{i+1} − t_i)(v_i + v_{i+1})/2 over points sorted by step (np.trapezoid is NumPy ≥ 2 only,
    and the package allows 1.26)."""
    steps, values = _sorted_by_step(steps, values)
    return float(np.sum(np.diff(steps) * (values[1:] + values[:-1]) / 2.0))


def auc_trapezoid(steps, values) -> float:
    """Normalised area under the curve: Σ_i (t_{i+1} − t_i)(v_i + v_{i+1})/2 / (t_max − t_min).

    The trapezoid rule over the actual evaluation steps, divided by the step span, so the result is
    on the scale of the values (a time-weighted mean). A single evaluation returns its value.
    """
    steps, values = _sorted_by_step(steps, values)
    span = steps[-1] - steps[0]
    if span == 0:
        return float(np.mean(values))
    return trapezoid_area(steps, values) / span


def auc_mean(values) -> float:
    """Unweighted mean of the values at all evaluation points, (1/n) Σ_i v_i."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("no evaluations: auc_mean needs at least one value")
    return float(np.mean(values))


def _per_run_value(kind: str, steps: np.ndarray, values: np.ndarray, k: int, auc: str) -> float:
    keep = np.isfinite(steps) & np.isfinite(values)
    steps, values = steps[keep], values[keep]
    if values.size == 0 or (kind == "final" and values.size < k):
        return np.nan
    if kind == "final":
        return final_value(steps, values, k)
    return auc_trapezoid(steps, values) if auc == "trapezoid" else auc_mean(values)


def per_run_metrics(frame: pd.DataFrame, k: int = 1, auc: str = "trapezoid") -> pd.DataFrame:
    """Per-run metrics of every run × eval_set × composition in a tidy frame.

    Returns columns suite, algorithm, scenario, eval_set, composition, seed, run_id, status, metric,
    value with metric one of METRIC_DEFINITIONS. Rows of failed runs are kept with value NaN. Runs
    that are not failed but have no finite evaluations of a metric, or fewer than k for a final
    metric (e.g. still running), also get NaN; filter on status == "done" for finished runs.
    """
    if auc not in AUC_VARIANTS:
        raise ValueError(f"auc={auc!r} is not one of {', '.join(AUC_VARIANTS)}")
    if int(k) != k or k < 1:
        raise ValueError(f"k={k!r} must be a positive integer number of evaluations")
    missing = [c for c in RUN_COLUMNS + ["step", "metric", "value"] if c not in frame.columns]
    if missing:
        raise ValueError(f"tidy frame lacks column(s) {', '.join(missing)}")
    steps = frame["step"].to_numpy(dtype=float)
    values = frame["value"].to_numpy(dtype=float)
    metric = frame["metric"].to_numpy(dtype=object)
    rows = []
    for run_key, positions in frame.groupby(RUN_COLUMNS, dropna=False).indices.items():
        failed = run_key[-1] == "failed"
        curves = {source: positions[metric[positions] == source]
                  for source in {src for src, _ in PER_RUN_SOURCES.values()}}
        for name, (source, kind) in PER_RUN_SOURCES.items():
            at = curves[source]
            value = np.nan if failed or at.size == 0 else \
                _per_run_value(kind, steps[at], values[at], int(k), auc)
            rows.append((*run_key, name, value))
    out = pd.DataFrame(rows, columns=RUN_COLUMNS + ["metric"] + ["value"])
    out["value"] = out["value"].astype(float)
    out = out.sort_values(RUN_COLUMNS, kind="stable", na_position="last", ignore_index=True)
    return out[PER_RUN_COLUMNS]
