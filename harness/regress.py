"""Regression gate: compare a candidate's per-seed final metrics with a recorded baseline.

Per (algorithm, scenario, eval_set) a one-sided test asks whether the candidate is worse than the
baseline by more than `tolerance` (the baseline is shifted down by `tolerance` before testing);
Holm's correction runs across all pairs, so the whole gate's false-alarm rate stays at `alpha`.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from harness.analysis import compare

Test = Literal["welch", "mannwhitney"]
KEY = ("algorithm", "scenario", "eval_set")
FORMAT_VERSION = 1
OK, REGRESSION, MISSING = "ok", "REGRESSION", "missing"


@dataclass(frozen=True)
class BaselineEntry:
    """Per-seed values of one (algorithm, scenario, eval_set) at the time of recording."""

    algorithm: str
    scenario: str
    eval_set: str
    seeds: list[int]
    values: list[float]


@dataclass(frozen=True)
class Baseline:
    metric: str
    entries: list[BaselineEntry]
    provenance: dict[str, Any] = field(default_factory=dict)
    recorded_at: str = ""

    @classmethod
    def load(cls, path: Path) -> "Baseline":
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: baseline format {data.get('format')!r} is not {FORMAT_VERSION}")
        return cls(metric=data["metric"], entries=[BaselineEntry(**e) for e in data["entries"]],
                   provenance=data.get("provenance", {}), recorded_at=data.get("recorded_at", ""))


@dataclass(frozen=True)
class RegressRow:
    algorithm: str
    scenario: str
    eval_set: str
    baseline_mean: float
    baseline_std: float
    baseline_n: int
    candidate_mean: float
    candidate_std: float
    candidate_n: int
    delta: float                 # candidate mean − baseline mean
    pvalue: float                # one-sided: candidate < baseline − tolerance
    p_adjusted: float            # Holm across all tested pairs
    verdict: str                 # ok | REGRESSION | missing


@dataclass(frozen=True)
class RegressResult:
    metric: str
    test: Test
    alpha: float
    tolerance: float
    rows: list[RegressRow]

    @property
    def regressed(self) -> bool:
        """True when any pair is significantly worse than its baseline (after Holm)."""
        return any(r.verdict == REGRESSION for r in self.rows)

    @property
    def missing(self) -> list[RegressRow]:
        return [r for r in self.rows if r.verdict == MISSING]

    def table_markdown(self) -> str:
        """The comparison as a Markdown table with a line saying how it was tested."""
        test = "Welch t-test" if self.test == "welch" else "Mann-Whitney U test"
        shift = (f"; the baseline is shifted down by the tolerance {self.tolerance:g} before testing"
                 if self.tolerance else "")
        lines = [f"Regression check on {self.metric}: one-sided {test} (H1: candidate < baseline"
                 f"{' − tolerance' if self.tolerance else ''}){shift}; Holm-corrected over {len(self.rows)} "
                 f"pairs at alpha={self.alpha}. std: ddof=1.", "",
                 "| algorithm | scenario | eval set | baseline | candidate | delta | p | p (Holm) | verdict |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(f"| {r.algorithm} | {r.scenario} | {r.eval_set} | "
                         f"{_ms(r.baseline_mean, r.baseline_std, r.baseline_n)} | "
                         f"{_ms(r.candidate_mean, r.candidate_std, r.candidate_n)} | {_f(r.delta, signed=True)} | "
                         f"{_p(r.pvalue)} | {_p(r.p_adjusted)} | {r.verdict} |")
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(r) for r in self.rows])


def _f(x: float, signed: bool = False) -> str:
    if math.isnan(x):
        return "—"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _ms(mean: float, std: float, n: int) -> str:
    return "—" if n == 0 else f"{_f(mean)} ± {_f(std)} (n={n})"


def _p(p: float) -> str:
    return "—" if math.isnan(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _finished(per_run: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Aggregate-composition values of finished runs for one metric."""
    data = per_run[per_run["metric"] == metric]
    if "composition" in data:
        data = data[data["composition"].astype(str) == "all"]
    if "status" in data:
        data = data[data["status"].fillna("done") == "done"]
    data = data.dropna(subset=["value"])
    return data.groupby(list(KEY) + ["seed"], as_index=False)["value"].mean()


def record_baseline(per_run: pd.DataFrame, path: Path, metric: str = "final_win_rate",
                    provenance: dict[str, Any] | None = None) -> None:
    """Store per-seed values of `metric` per (algorithm, scenario, eval_set) as JSON, with provenance."""
    data = _finished(per_run, metric)
    if data.empty:
        raise ValueError(f"no finished runs with metric {metric!r} to record as a baseline")
    entries = [asdict(BaselineEntry(algorithm=str(a), scenario=str(s), eval_set=str(e),
                                    seeds=[int(x) for x in g["seed"]], values=[float(v) for v in g["value"]]))
               for (a, s, e), g in data.sort_values("seed").groupby(list(KEY), sort=True)]
    payload = {"format": FORMAT_VERSION, "metric": metric,
               "recorded_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "provenance": provenance or {}, "entries": entries}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def compare_to_baseline(per_run: pd.DataFrame, baseline_path: Path, metric: str | None = None,
                        test: Test = "welch", alpha: float = 0.05, tolerance: float = 0.0) -> RegressResult:
    """Test every baseline pair for a candidate regression on the baseline's metric (`metric`, when
    given, must be that metric)."""
    if test not in ("welch", "mannwhitney"):
        raise ValueError(f"test must be 'welch' or 'mannwhitney', got {test!r}")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    baseline = Baseline.load(baseline_path)
    if metric is not None and metric != baseline.metric:
        raise ValueError(f"{baseline_path}: the baseline holds {baseline.metric!r}, not {metric!r}; record a "
                         f"baseline for {metric!r} or compare on {baseline.metric!r}")
    metric = baseline.metric
    candidate = {k: g["value"].to_numpy(float) for k, g in _finished(per_run, metric).groupby(list(KEY))}
    tested: list[tuple[BaselineEntry, np.ndarray, np.ndarray]] = []
    untested: list[tuple[BaselineEntry, np.ndarray, np.ndarray]] = []
    for entry in baseline.entries:
        base = np.asarray(entry.values, dtype=float)
        cand = candidate.get((entry.algorithm, entry.scenario, entry.eval_set), np.empty(0))
        (tested if len(base) >= 2 and len(cand) >= 2 else untested).append((entry, base, cand))
    decisions = gate_decisions([(b, c) for _, b, c in tested], test, alpha, tolerance)
    rows = [_row(e, b, c, p, adj, REGRESSION if rej else OK)
            for (e, b, c), (p, adj, rej) in zip(tested, decisions)]
    rows += [_row(e, b, c, math.nan, math.nan, MISSING) for e, b, c in untested]
    rows.sort(key=lambda r: (r.algorithm, r.scenario, r.eval_set))
    return RegressResult(metric=metric, test=test, alpha=alpha, tolerance=tolerance, rows=rows)


def gate_decisions(pairs: list[tuple[np.ndarray, np.ndarray]], test: Test = "welch", alpha: float = 0.05,
                   tolerance: float = 0.0) -> list[tuple[float, float, bool]]:
    """The gate on arrays: for each (baseline, candidate) pair the one-sided p-value of "candidate <
    baseline − tolerance", its Holm-adjusted p-value across all pairs, and whether it is rejected."""
    fn = compare.welch_t if test == "welch" else compare.mann_whitney
    pvalues = [_one_sided_p(fn, np.asarray(c, float), np.asarray(b, float) - tolerance) for b, c in pairs]
    if not pvalues:
        return []
    adjusted = np.asarray(compare.holm(pvalues), dtype=float)
    reject = np.asarray(compare.holm_reject(pvalues, alpha), dtype=bool)
    return [(p, float(a), bool(r)) for p, a, r in zip(pvalues, adjusted, reject)]


def _one_sided_p(fn, candidate: np.ndarray, shifted_baseline: np.ndarray) -> float:
    """p-value of "candidate < shifted baseline"; when the test is undefined (Welch's t with both
    samples constant) it is 0 if the candidate is lower and 1 otherwise, the limit of the statistic."""
    with warnings.catch_warnings():    # scipy warns on constant samples (e.g. every seed wins); p is still right
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        p = float(fn(candidate, shifted_baseline, alternative="less").pvalue)
    if math.isnan(p) and np.ptp(candidate) == 0 and np.ptp(shifted_baseline) == 0:
        return 0.0 if candidate[0] < shifted_baseline[0] else 1.0
    return p


def _row(entry: BaselineEntry, base: np.ndarray, cand: np.ndarray, p: float, adj: float,
         verdict: str) -> RegressRow:
    def mean(x):
        return float(np.mean(x)) if len(x) else math.nan

    def std(x):
        return float(np.std(x, ddof=1)) if len(x) > 1 else math.nan

    return RegressRow(algorithm=entry.algorithm, scenario=entry.scenario, eval_set=entry.eval_set,
                      baseline_mean=mean(base), baseline_std=std(base), baseline_n=len(base),
                      candidate_mean=mean(cand), candidate_std=std(cand), candidate_n=len(cand),
                      delta=mean(cand) - mean(base), pvalue=p, p_adjusted=adj, verdict=verdict)


def assert_no_regression(per_run_or_out_dir: pd.DataFrame | Path | str, baseline_path: Path, *,
                         k: int = 1, auc: str = "trapezoid", allow_missing: bool = False,
                         **kw: Any) -> RegressResult:
    """pytest helper: raise AssertionError with the comparison table on a significant regression.

    Accepts per-run metrics or a suite output folder (read with `load_frame` + `per_run_metrics`).
    A baseline pair with no candidate runs fails too unless `allow_missing` is set.
    """
    per_run = per_run_or_out_dir
    if not isinstance(per_run, pd.DataFrame):
        from harness.analysis.frame import load_frame
        from harness.analysis.metrics import per_run_metrics
        per_run = per_run_metrics(load_frame(Path(per_run_or_out_dir)), k=k, auc=auc)
    result = compare_to_baseline(per_run, baseline_path, **kw)
    if result.regressed:
        raise AssertionError("performance regression against " f"{baseline_path}:\n{result.table_markdown()}")
    if result.missing and not allow_missing:
        raise AssertionError(f"baseline pairs without candidate runs ({baseline_path}):\n{result.table_markdown()}")
    return result
