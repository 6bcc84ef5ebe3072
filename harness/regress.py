"""Regression gate: compare a candidate's per-seed final metrics with a recorded baseline.

Per (algorithm, scenario, eval_set) the gate tests, one-sided, whether the candidate's mean is lower
than the baseline's by more than the tolerance, or whether some of its seeds collapsed below what the
baseline predicts (`harness.analysis.gate`); the tolerance is at least the metric's measurement
resolution (1/n for a win rate over n episodes). Holm's correction runs across all pairs, so the
whole gate's false-alarm rate stays at `alpha`.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from harness.analysis import compare, gate

Test = Literal["welch", "mannwhitney"]
KEY = ("algorithm", "scenario", "eval_set")
FORMAT_VERSION = 2           # 2 adds speed entries and the machine they were measured on
READABLE_FORMATS = (1, 2)
OK, REGRESSION, MISSING, SLOWER = "ok", "REGRESSION", "missing", "SLOWER"
SPEED_FIELDS = ("steps_per_second", "collect_steps_per_second", "learn_steps_per_second")


@dataclass(frozen=True)
class BaselineEntry:
    """Per-seed values of one (algorithm, scenario, eval_set) at the time of recording."""

    algorithm: str
    scenario: str
    eval_set: str
    seeds: list[int]
    values: list[float]


@dataclass(frozen=True)
class SpeedEntry:
    """Per-seed throughputs (env steps per second) of one (algorithm, scenario) when recorded."""

    algorithm: str
    scenario: str
    seeds: list[int]
    steps_per_second: list[float]             # training: collection + learning
    collect_steps_per_second: list[float]
    learn_steps_per_second: list[float]


@dataclass(frozen=True)
class Baseline:
    metric: str
    entries: list[BaselineEntry]
    provenance: dict[str, Any] = field(default_factory=dict)
    recorded_at: str = ""
    resolution: float | None = None   # measurement step of the metric when recorded (1/episodes)
    speed: list[SpeedEntry] = field(default_factory=list)
    machine: dict[str, str] = field(default_factory=dict)   # where the speed was measured

    @classmethod
    def load(cls, path: Path) -> "Baseline":
        data = json.loads(Path(path).read_text())
        if data.get("format") not in READABLE_FORMATS:
            raise ValueError(f"{path}: baseline format {data.get('format')!r} is not one of {READABLE_FORMATS}")
        return cls(metric=data["metric"], entries=[BaselineEntry(**e) for e in data["entries"]],
                   provenance=data.get("provenance", {}), recorded_at=data.get("recorded_at", ""),
                   resolution=data.get("resolution"), speed=[SpeedEntry(**e) for e in data.get("speed", [])],
                   machine=data.get("machine", {}))


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
    pvalue: float                # one-sided, shift and collapse combined (harness.analysis.gate)
    p_adjusted: float            # Holm across all tested pairs
    verdict: str                 # ok | REGRESSION | missing
    p_shift: float = math.nan    # one-sided: candidate mean < baseline mean − tolerance
    p_collapse: float = math.nan  # one-sided: a candidate seed below the baseline's prediction bound


@dataclass(frozen=True)
class RegressResult:
    metric: str
    test: Test
    alpha: float
    tolerance: float
    rows: list[RegressRow]
    resolution: float | None = None   # the metric's measurement step (1/episodes for a win rate)

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
        tau = gate.effective_tolerance(self.tolerance, self.resolution)
        step = (f" (at least the measurement resolution {self.resolution:.4g}; within-seed measurement "
                f"noise floors each sample's variance)" if self.resolution else "")
        lines = [f"Regression check on {self.metric}: per pair, a one-sided {test} of a mean drop (H1: "
                 f"candidate < baseline − τ) and a collapse test (H1: some candidate seed lies below the "
                 f"baseline's one-sided normal prediction bound, Bonferroni over seeds), combined by "
                 f"weighted Bonferroni ({gate.SHIFT_WEIGHT:g}/{1 - gate.SHIFT_WEIGHT:.1g}); tolerance "
                 f"τ = {tau:.4g}{step}; Holm-corrected over {len(self.rows)} pairs at alpha={self.alpha}. "
                 f"std: ddof=1.", "",
                 "| algorithm | scenario | eval set | baseline | candidate | delta | p (drop) | p (collapse) "
                 "| p (Holm) | verdict |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(f"| {r.algorithm} | {r.scenario} | {r.eval_set} | "
                         f"{_ms(r.baseline_mean, r.baseline_std, r.baseline_n)} | "
                         f"{_ms(r.candidate_mean, r.candidate_std, r.candidate_n)} | {_f(r.delta, signed=True)} | "
                         f"{_p(r.p_shift)} | {_p(r.p_collapse)} | {_p(r.p_adjusted)} | {r.verdict} |")
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


def win_rate_resolution(metric: str, episodes: int, k: int = 1) -> float | None:
    """The measurement step of a per-run metric: a final win rate averages k evaluations of
    `episodes` episodes, so it moves in steps of 1/(k·episodes); other metrics have none."""
    return 1.0 / (episodes * k) if metric == "final_win_rate" and episodes > 0 else None


def machine_fingerprint() -> dict[str, str]:
    """What a throughput depends on besides the code: host, processor, core count, accelerator."""
    import os
    import platform
    import socket

    import torch

    return {"host": socket.gethostname(), "processor": platform.processor() or platform.machine(),
            "cpus": str(os.cpu_count()),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}


def speed_values(runs: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """Finished runs' throughputs per (algorithm, scenario): a frame of seed and SPEED_FIELDS."""
    if runs is None or runs.empty or "steps_per_second" not in runs:
        return {}
    done = runs[(runs["status"] == "done")].dropna(subset=["steps_per_second"])
    done = done[done["steps_per_second"] > 0]
    return {(str(a), str(s)): g.sort_values("seed")[["seed", *SPEED_FIELDS]]
            for (a, s), g in done.groupby(["algorithm", "scenario"], sort=True)}


def record_baseline(per_run: pd.DataFrame, path: Path, metric: str = "final_win_rate",
                    provenance: dict[str, Any] | None = None, resolution: float | None = None,
                    runs: pd.DataFrame | None = None) -> None:
    """Store per-seed values of `metric` per (algorithm, scenario, eval_set) as JSON, with provenance
    and the metric's measurement resolution; with `runs` (`load_runs`), also their throughputs and
    the machine they ran on."""
    data = _finished(per_run, metric)
    if data.empty:
        raise ValueError(f"no finished runs with metric {metric!r} to record as a baseline")
    entries = [asdict(BaselineEntry(algorithm=str(a), scenario=str(s), eval_set=str(e),
                                    seeds=[int(x) for x in g["seed"]], values=[float(v) for v in g["value"]]))
               for (a, s, e), g in data.sort_values("seed").groupby(list(KEY), sort=True)]
    payload = {"format": FORMAT_VERSION, "metric": metric,
               "recorded_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "provenance": provenance or {}, "entries": entries}
    if resolution:
        payload["resolution"] = float(resolution)
    speed = speed_values(runs) if runs is not None else {}
    if speed:
        payload["machine"] = machine_fingerprint()
        payload["speed"] = [asdict(SpeedEntry(algorithm=a, scenario=sc, seeds=[int(x) for x in g["seed"]],
                                              **{f: [float(v) for v in g[f]] for f in SPEED_FIELDS}))
                            for (a, sc), g in speed.items()]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def compare_to_baseline(per_run: pd.DataFrame, baseline_path: Path, metric: str | None = None,
                        test: Test = "welch", alpha: float = 0.05, tolerance: float = 0.0,
                        resolution: float | None = None) -> RegressResult:
    """Test every baseline pair for a candidate regression on the baseline's metric (`metric`, when
    given, must be that metric). `resolution` defaults to the one recorded with the baseline."""
    if test not in ("welch", "mannwhitney"):
        raise ValueError(f"test must be 'welch' or 'mannwhitney', got {test!r}")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    baseline = Baseline.load(baseline_path)
    if metric is not None and metric != baseline.metric:
        raise ValueError(f"{baseline_path}: the baseline holds {baseline.metric!r}, not {metric!r}; record a "
                         f"baseline for {metric!r} or compare on {baseline.metric!r}")
    metric = baseline.metric
    resolution = baseline.resolution if resolution is None else resolution
    candidate = {k: g["value"].to_numpy(float) for k, g in _finished(per_run, metric).groupby(list(KEY))}
    pairs = [(e.algorithm, e.scenario, e.eval_set, np.asarray(e.values, dtype=float),
              candidate.get((e.algorithm, e.scenario, e.eval_set), np.empty(0))) for e in baseline.entries]
    return compare_values(pairs, metric, test, alpha, tolerance, resolution)


def compare_values(pairs: list[tuple[str, str, str, np.ndarray, np.ndarray]], metric: str,
                   test: Test = "welch", alpha: float = 0.05, tolerance: float = 0.0,
                   resolution: float | None = None) -> RegressResult:
    """The gate on (algorithm, scenario, eval_set, baseline values, candidate values) tuples; a pair
    with fewer than 2 seeds on a side is `missing`."""
    tested = [p for p in pairs if len(p[3]) >= 2 and len(p[4]) >= 2]
    untested = [p for p in pairs if not (len(p[3]) >= 2 and len(p[4]) >= 2)]
    tests = [gate.pair_test(b, c, test, tolerance, resolution) for *_, b, c in tested]
    pvalues = [t.pvalue for t in tests]
    adjusted = np.asarray(compare.holm(pvalues), dtype=float) if tests else np.empty(0)
    reject = np.asarray(compare.holm_reject(pvalues, alpha), dtype=bool) if tests else np.empty(0, bool)
    rows = [_row(p, t, float(adj), REGRESSION if rej else OK)
            for p, t, adj, rej in zip(tested, tests, adjusted, reject)]
    rows += [_row(p, None, math.nan, MISSING) for p in untested]
    rows.sort(key=lambda r: (r.algorithm, r.scenario, r.eval_set))
    return RegressResult(metric=metric, test=test, alpha=alpha, tolerance=tolerance, rows=rows,
                         resolution=resolution)


def gate_decisions(pairs: list[tuple[np.ndarray, np.ndarray]], test: Test = "welch", alpha: float = 0.05,
                   tolerance: float = 0.0, resolution: float | None = None) -> list[tuple[float, float, bool]]:
    """The gate on arrays: for each (baseline, candidate) pair its combined one-sided p-value
    (`harness.analysis.gate.pair_test`), the Holm-adjusted p-value across all pairs, and whether it
    is rejected."""
    pvalues = [gate.pair_test(b, c, test, tolerance, resolution).pvalue for b, c in pairs]
    if not pvalues:
        return []
    adjusted = np.asarray(compare.holm(pvalues), dtype=float)
    reject = np.asarray(compare.holm_reject(pvalues, alpha), dtype=bool)
    return [(p, float(a), bool(r)) for p, a, r in zip(pvalues, adjusted, reject)]


def _row(pair: tuple[str, str, str, np.ndarray, np.ndarray], tested: gate.PairTest | None, adj: float,
         verdict: str) -> RegressRow:
    algorithm, scenario, eval_set, base, cand = pair

    def mean(x):
        return float(np.mean(x)) if len(x) else math.nan

    def std(x):
        return float(np.std(x, ddof=1)) if len(x) > 1 else math.nan

    return RegressRow(algorithm=algorithm, scenario=scenario, eval_set=eval_set,
                      baseline_mean=mean(base), baseline_std=std(base), baseline_n=len(base),
                      candidate_mean=mean(cand), candidate_std=std(cand), candidate_n=len(cand),
                      delta=mean(cand) - mean(base), pvalue=tested.pvalue if tested else math.nan,
                      p_adjusted=adj, verdict=verdict,
                      p_shift=tested.p_shift if tested else math.nan,
                      p_collapse=tested.p_collapse if tested else math.nan)


# --- speed --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpeedRow:
    algorithm: str
    scenario: str
    baseline: float              # geometric mean of training env steps per second over seeds
    candidate: float
    ratio: float                 # candidate / baseline (geometric means)
    collect_ratio: float         # the same for collection and for learning alone
    learn_ratio: float
    baseline_n: int
    candidate_n: int
    pvalue: float                # one-sided: candidate slower than (1 − tolerance) × baseline
    p_adjusted: float
    verdict: str                 # ok | SLOWER | missing


@dataclass(frozen=True)
class SpeedResult:
    tolerance: float
    alpha: float
    rows: list[SpeedRow]
    skipped: str = ""            # why speed was not compared (another machine, nothing recorded)

    @property
    def slowed(self) -> bool:
        return any(r.verdict == SLOWER for r in self.rows)

    def table_markdown(self) -> str:
        if self.skipped:
            return f"Speed not compared: {self.skipped}\n"
        lines = [f"Speed check on training throughput (env steps per second of collection and learning): "
                 f"one-sided Welch t-test on log throughput (H1: candidate < {1 - self.tolerance:g} × baseline); "
                 f"Holm-corrected over {len(self.rows)} pairs at alpha={self.alpha}. Values are geometric means "
                 f"over seeds; ratios are candidate / baseline.", "",
                 "| algorithm | scenario | baseline steps/s | candidate steps/s | ratio | collection | learning "
                 "| p | p (Holm) | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(f"| {r.algorithm} | {r.scenario} | {_g(r.baseline)} (n={r.baseline_n}) | "
                         f"{_g(r.candidate)} (n={r.candidate_n}) | {_f(r.ratio)} | {_f(r.collect_ratio)} | "
                         f"{_f(r.learn_ratio)} | {_p(r.pvalue)} | {_p(r.p_adjusted)} | {r.verdict} |")
        return "\n".join(lines) + "\n"


def _g(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:,.0f}"


def _geomean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.exp(np.mean(np.log(values)))) if values.size else math.nan


def compare_speed(pairs: list[tuple[str, str, dict[str, np.ndarray], dict[str, np.ndarray]]],
                  tolerance: float = 0.1, alpha: float = 0.05) -> SpeedResult:
    """The speed gate on (algorithm, scenario, baseline fields, candidate fields) tuples, each field
    an array of per-seed throughputs (SPEED_FIELDS)."""
    tested, rows = [], []
    for alg, scen, base, cand in pairs:
        b, c = np.asarray(base.get("steps_per_second", []), float), np.asarray(cand.get("steps_per_second", []), float)
        ratios = {f: _geomean(cand.get(f, [])) / _geomean(base.get(f, [])) if len(base.get(f, [])) and
                  len(cand.get(f, [])) else math.nan for f in SPEED_FIELDS}
        row = dict(algorithm=alg, scenario=scen, baseline=_geomean(b), candidate=_geomean(c),
                   ratio=ratios["steps_per_second"], collect_ratio=ratios["collect_steps_per_second"],
                   learn_ratio=ratios["learn_steps_per_second"], baseline_n=len(b), candidate_n=len(c))
        if len(b) >= 2 and len(c) >= 2:
            tested.append((row, gate.speed_test(b, c, tolerance).pvalue))
        else:
            rows.append(SpeedRow(**row, pvalue=math.nan, p_adjusted=math.nan, verdict=MISSING))
    if tested:
        pvalues = [p for _, p in tested]
        adjusted = compare.holm(pvalues)
        reject = compare.holm_reject(pvalues, alpha)
        rows += [SpeedRow(**row, pvalue=p, p_adjusted=float(adj), verdict=SLOWER if rej else OK)
                 for (row, p), adj, rej in zip(tested, adjusted, reject)]
    rows.sort(key=lambda r: (r.algorithm, r.scenario))
    return SpeedResult(tolerance=tolerance, alpha=alpha, rows=rows)


def compare_speed_to_baseline(runs: pd.DataFrame, baseline_path: Path, tolerance: float = 0.1,
                              alpha: float = 0.05) -> SpeedResult:
    """Throughput of finished runs against the baseline's, if it was measured on this machine."""
    baseline = Baseline.load(baseline_path)
    if not baseline.speed:
        return SpeedResult(tolerance, alpha, [], skipped=f"{baseline_path} records no speed (recorded "
                           f"before speed was kept, or from runs without it); record it again")
    here = machine_fingerprint()
    if baseline.machine != here:
        differ = ", ".join(f"{k} {baseline.machine.get(k)!r} vs {here.get(k)!r}" for k in here
                           if baseline.machine.get(k) != here.get(k))
        return SpeedResult(tolerance, alpha, [], skipped=f"the baseline was measured on another machine ({differ}); "
                           f"compare speed with --against REV on one machine instead")
    candidate = speed_values(runs)
    pairs = []
    for e in baseline.speed:
        cand = candidate.get((e.algorithm, e.scenario))
        pairs.append((e.algorithm, e.scenario, {f: np.asarray(getattr(e, f)) for f in SPEED_FIELDS},
                      {f: cand[f].to_numpy(float) for f in SPEED_FIELDS} if cand is not None else {}))
    return compare_speed(pairs, tolerance, alpha)


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


def gate_runs(suite, specs, out_dir: Path, baseline_path: Path, *, test: Test = "welch", alpha: float = 0.05,
              tolerance: float = 0.0, metric: str | None = None, speed: bool = True,
              speed_tolerance: float = 0.1) -> tuple[RegressResult, SpeedResult | None]:
    """The gate on a suite's runs in `out_dir` against a baseline file: learning, and speed unless
    `speed` is False (the CLI's `harness regress` and the pytest helpers share it)."""
    from harness.analysis.frame import load_frame, load_runs
    from harness.analysis.metrics import per_run_metrics

    ids = [s.run_id for s in specs]
    per_run = per_run_metrics(load_frame(Path(out_dir), ids), k=suite.evaluation.final_k)
    measured = metric or Baseline.load(baseline_path).metric
    result = compare_to_baseline(per_run, baseline_path, metric=metric, test=test, alpha=alpha, tolerance=tolerance,
                                 resolution=win_rate_resolution(measured, suite.evaluation.episodes,
                                                                suite.evaluation.final_k))
    slow = compare_speed_to_baseline(load_runs(Path(out_dir), ids, specs), baseline_path, speed_tolerance, alpha) \
        if speed else None
    return result, slow


def assert_no_regression_against(suite_path: Path | str, rev: str, *, overrides: tuple[str, ...] = (),
                                 workers: int = 1, cache: Path | None = None, speed: bool = True,
                                 **gate_kw: Any) -> tuple[RegressResult, SpeedResult | None]:
    """pytest helper, A/B mode: run `suite_path` at git revision `rev` and at the working tree
    (`harness.ab`), and raise AssertionError with the tables on a learning regression or a slowdown."""
    from harness import ab
    from harness.suite import expand, load_suite, suite_hash

    suite = load_suite(Path(suite_path), overrides)
    specs = expand(suite)
    comparison = ab.compare_against(Path(suite_path), rev, name=suite.name, seeds=suite.seed_list,
                                    overrides=overrides, suite_hash=suite_hash(Path(suite_path), overrides),
                                    workers=workers, cache=cache or ab.DEFAULT_CACHE)
    result, slow = gate_runs(suite, specs, comparison.candidate_out, comparison.baseline, speed=speed, **gate_kw)
    tables = result.table_markdown() + ("\n" + slow.table_markdown() if slow is not None else "")
    if result.regressed:
        raise AssertionError(f"learning regression against {rev} ({comparison.commit[:12]}):\n{tables}")
    if slow is not None and slow.slowed:
        raise AssertionError(f"slowdown against {rev} ({comparison.commit[:12]}):\n{tables}")
    return result, slow
