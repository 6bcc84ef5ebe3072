"""Zero-shot generalisation from per-run final values: the training-set × evaluation-set matrix with
bootstrap CIs, the breakdown by composition (number of agents, unit-type mix) and the generalisation
gap (training minus each evaluation set, per run) with Holm-corrected tests between algorithms.

All inputs are ``per_run_metrics`` rows of one metric (``final_win_rate`` by default) of finished runs.
"""
from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.compare import holm, welch_t
from harness.analysis.stats import mean, stratified_bootstrap_ci

TRAIN, ALL = "train", "all"
MATRIX_COLUMNS = ["scenario", "algorithm", "eval_set", "n", "mean", "lo", "hi"]
BREAKDOWN_COLUMNS = ["scenario", "algorithm", "by", "group", "n_compositions", "n", "mean", "std"]
GAP_COLUMNS = ["scenario", "algorithm", "eval_set", "n", "gap", "lo", "hi"]
GAP_TEST_COLUMNS = ["scenario", "eval_set", "a", "b", "difference", "p", "p_holm", "significant"]


def team_size(label: str) -> int | None:
    """Controlled agents in a composition label: ``3s2z_vs_3s2z`` → 5 (combat), ``AB`` → 2 (matrix)."""
    allies = str(label).split("_vs_")[0]
    counts = re.findall(r"(\d+)[A-Za-z]+", allies)
    if counts:
        return sum(int(c) for c in counts)
    return len(allies) if allies.isalpha() else None


def unit_mix(label: str) -> str:
    """The controlled team's unit-type mix of a composition label (``3s2z``; ``AB`` on matrix games)."""
    return str(label).split("_vs_")[0]


def _finals(per_run: pd.DataFrame, metric: str) -> pd.DataFrame:
    data = per_run[(per_run["metric"] == metric) & (per_run["status"] == "done")]
    return data.dropna(subset=["value"])


def _eval_sets(data: pd.DataFrame) -> list[str]:
    names = list(dict.fromkeys(data["eval_set"].astype(str)))
    return ([TRAIN] if TRAIN in names else []) + [n for n in names if n != TRAIN]


def _ci(values: np.ndarray, reps: int, confidence: float, seed: int) -> tuple[float, float, float]:
    if len(values) < 2:
        v = float(values[0]) if len(values) else float("nan")
        return v, float("nan"), float("nan")
    point, lower, upper = stratified_bootstrap_ci({"x": values.reshape(-1, 1)}, mean, reps=reps,
                                                  confidence=confidence, seed=seed)["x"]
    return float(np.ravel(point)[0]), float(np.ravel(lower)[0]), float(np.ravel(upper)[0])


def set_matrix(per_run: pd.DataFrame, metric: str = "final_win_rate", reps: int = 10_000,
               confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per scenario, algorithm and evaluation set (training first): the mean over runs of the pooled
    final value and its stratified bootstrap CI."""
    data = _finals(per_run, metric)
    data = data[data["composition"].astype(str) == ALL]
    rows = []
    for scenario, g in data.groupby("scenario", sort=False):
        for algorithm, a in g.groupby("algorithm", sort=False):
            for eval_set in _eval_sets(g):
                values = a[a["eval_set"].astype(str) == eval_set]["value"].to_numpy(float)
                if len(values):
                    rows.append((scenario, algorithm, eval_set, len(values), *_ci(values, reps, confidence, seed)))
    return pd.DataFrame(rows, columns=MATRIX_COLUMNS)


def composition_breakdown(per_run: pd.DataFrame, metric: str = "final_win_rate") -> pd.DataFrame:
    """Per scenario and algorithm, the final value by number of agents and by unit-type mix over every
    evaluated composition (the training set's and the evaluation sets'): the mean over runs of each
    run's mean over the group's compositions, its std over runs, and how many compositions it holds."""
    data = _finals(per_run, metric)
    data = data[data["composition"].astype(str) != ALL].copy()
    if data.empty:
        return pd.DataFrame(columns=BREAKDOWN_COLUMNS)
    data["agents"] = data["composition"].map(team_size)
    data["mix"] = data["composition"].map(unit_mix)
    rows = []
    for (scenario, algorithm), g in data.groupby(["scenario", "algorithm"], sort=False):
        for by in ("agents", "mix"):
            for group, h in sorted(g.groupby(by, sort=False), key=lambda kv: (str(type(kv[0])), kv[0])):
                per_run_means = h.groupby("run_id")["value"].mean().to_numpy(float)
                rows.append((scenario, algorithm, by, str(group), h["composition"].nunique(), len(per_run_means),
                             float(per_run_means.mean()),
                             float(per_run_means.std(ddof=1)) if len(per_run_means) > 1 else float("nan")))
    return pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)


def _gaps(g: pd.DataFrame) -> pd.DataFrame:
    """Per run of one scenario: training value minus each evaluation set's (columns: the sets)."""
    table = g.pivot_table(index=["algorithm", "run_id"], columns="eval_set", values="value", aggfunc="first")
    if TRAIN not in table.columns:
        return pd.DataFrame()
    return table.drop(columns=[TRAIN]).rsub(table[TRAIN], axis=0)


@dataclass(frozen=True)
class GapAnalysis:
    gaps: pd.DataFrame       # GAP_COLUMNS
    tests: pd.DataFrame      # GAP_TEST_COLUMNS


def generalisation_gaps(per_run: pd.DataFrame, metric: str = "final_win_rate", alpha: float = 0.05,
                        reps: int = 10_000, confidence: float = 0.95, seed: int = 0) -> GapAnalysis:
    """The gap (training minus evaluation set, per run, so a run is its own control) per algorithm
    with a bootstrap CI, and Welch's t-test of every pair of algorithms on each set's per-run gaps,
    Holm-corrected over all pairs and sets of the scenario."""
    data = _finals(per_run, metric)
    data = data[data["composition"].astype(str) == ALL]
    gap_rows, test_rows = [], []
    for scenario, g in data.groupby("scenario", sort=False):
        gaps = _gaps(g)
        if gaps.empty:
            continue
        algorithms = list(dict.fromkeys(g["algorithm"]))
        tests = []
        for eval_set in [s for s in _eval_sets(g) if s != TRAIN]:
            per_alg = {a: gaps.loc[a, eval_set].dropna().to_numpy(float) for a in algorithms if a in gaps.index}
            for a, values in per_alg.items():
                if len(values):
                    gap_rows.append((scenario, a, eval_set, len(values), *_ci(values, reps, confidence, seed)))
            for a, b in itertools.combinations(per_alg, 2):
                x, y = per_alg[a], per_alg[b]
                if len(x) >= 2 and len(y) >= 2 and (np.ptp(x) > 0 or np.ptp(y) > 0):
                    with warnings.catch_warnings():   # one constant sample: scipy warns, the test stands
                        warnings.simplefilter("ignore", RuntimeWarning)
                        p = welch_t(x, y).pvalue
                    tests.append([scenario, eval_set, a, b, float(x.mean() - y.mean()), p])
        if tests:
            adjusted = holm([t[-1] for t in tests])
            test_rows += [t + [float(p), bool(p < alpha)] for t, p in zip(tests, adjusted)]
    return GapAnalysis(pd.DataFrame(gap_rows, columns=GAP_COLUMNS), pd.DataFrame(test_rows, columns=GAP_TEST_COLUMNS))
