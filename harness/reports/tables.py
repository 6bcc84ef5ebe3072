"""One report table as numbers: cells, best-in-column, Holm-corrected marks, paper numbers, failures.

Rendering to Markdown/LaTeX/CSV/HTML is `render.py`'s job; this module only decides what the table
says. Only finished runs (status `done`) enter a cell; failed runs are listed, never averaged in.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis import compare, stats
from harness.analysis.metrics import METRIC_DEFINITIONS
from harness.reports import formats
from harness.reports.grid import ALL_COMPOSITIONS, TableLayout, layout_for, ordered_keys, table_units
from harness.reports.references import DEFAULT_PATH, ReferenceTable, paper_metric
from harness.suite.models import ReportTable, Suite

Key = tuple[str, ...]
DONE = "done"


@dataclass
class Cell:
    """One table cell: the [seeds × tasks] scores behind it and what is displayed."""

    row: Key
    column: Key
    applicable: bool                  # the suite declares at least one unit for this cell
    seeds: tuple[int, ...]            # seeds with a finished run on every task of the cell
    scores: np.ndarray                # [n_seeds, n_tasks]
    n_declared: int
    units: dict[str, str | None]      # algorithm/scenario/eval_set when the cell has exactly one
    point: float = math.nan
    a: float = math.nan               # std, CI low or q25 (by cell kind)
    b: float = math.nan               # CI high or q75
    text: str = formats.MISSING
    bold: bool = False
    significant: bool = False         # differs from the column's best after Holm correction
    pvalue: float = math.nan
    p_adjusted: float = math.nan

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def per_seed(self) -> np.ndarray:
        """Each seed's score averaged over the cell's tasks, [n_seeds]."""
        return self.scores.mean(axis=1) if self.scores.size else np.empty(0)


@dataclass(frozen=True)
class ReferenceComparison:
    """Our cell next to the published number, with the deviation and a consistency test."""

    algorithm: str
    scenario: str
    eval_set: str | None
    ours_mean: float
    ours_std: float
    ours_n: int
    paper_mean: float
    paper_std: float
    paper_n: int
    deviation: float                  # ours − published
    pvalue: float                     # NaN when untestable (fewer than 2 seeds, no published std)
    consistent: bool | None           # None when untestable


@dataclass(frozen=True)
class FailedRun:
    run_id: str
    algorithm: str
    scenario: str
    seed: int
    reason: str


@dataclass
class TableModel:
    """Everything a renderer needs for one declared table."""

    spec: ReportTable
    suite: str
    layout: TableLayout
    row_keys: list[Key]
    column_keys: list[Key]
    cells: dict[tuple[Key, Key], Cell]
    caption: str
    decimals: int
    failed: list[FailedRun] = field(default_factory=list)
    unfinished: int = 0
    references: list[ReferenceComparison] = field(default_factory=list)
    reference_label: str = ""
    notes: list[str] = field(default_factory=list)

    def cell(self, row: Key, column: Key) -> Cell:
        return self.cells[(row, column)]


def select_scores(per_run: pd.DataFrame, spec: ReportTable) -> pd.DataFrame:
    """Finished runs' values of the table's metric, with the table's eval-set filter applied."""
    if spec.metric not in METRIC_DEFINITIONS:
        raise ValueError(f"report table {spec.table!r}: metric {spec.metric!r} is not one of "
                         f"{', '.join(sorted(METRIC_DEFINITIONS))}")
    data = per_run[per_run["metric"] == spec.metric]
    if "status" in data.columns:
        data = data[data["status"].fillna(DONE) == DONE]
    if spec.eval_set is not None:
        data = data[data["eval_set"] == spec.eval_set]
    data = data.dropna(subset=["value"]).copy()
    for dim in ("algorithm", "scenario", "eval_set", "composition"):
        data[dim] = data[dim].astype(str)
    return data


def build_table(per_run: pd.DataFrame, runs: pd.DataFrame | None, spec: ReportTable, suite: Suite, *,
                reps: int = 50_000, confidence: float = 0.95, seed: int = 0,
                references_path: Path = DEFAULT_PATH) -> TableModel:
    """Compute one declared table from per-run metrics (`harness.analysis.metrics.per_run_metrics`)."""
    layout = layout_for(spec)
    data = select_scores(per_run, spec)
    units = table_units(spec, suite, data)
    row_keys, column_keys = ordered_keys(units, layout.rows), ordered_keys(units, layout.columns)
    n_declared = len(suite.seed_list)
    cells = {(r, c): _make_cell(r, c, layout, units, data, n_declared)
             for r in row_keys for c in column_keys}
    decimals = formats.decimals_for(spec.metric)
    _fill_statistics(cells.values(), spec.cell, decimals, reps, confidence, seed)
    model = TableModel(spec=spec, suite=suite.name, layout=layout, row_keys=row_keys,
                       column_keys=column_keys, cells=cells, caption=_caption(spec, suite, reps, confidence),
                       decimals=decimals)
    _mark_best_and_significance(model)
    if spec.reference is not None:
        _attach_references(model, references_path)
    _attach_failures(model, per_run, runs, units)
    return model


# --- cells --------------------------------------------------------------------------------------

def _make_cell(row: Key, column: Key, layout: TableLayout, units: pd.DataFrame, data: pd.DataFrame,
               n_declared: int) -> Cell:
    key = dict(zip(layout.keyed, row + column))
    mine = units
    for dim, value in key.items():
        mine = mine[mine[dim] == value]
    task_dims = [d for d in ("algorithm", "scenario", "eval_set", "composition") if d not in key]
    cell_units = {d: (str(mine[d].iloc[0]) if d in mine and mine[d].nunique() == 1 else None)
                  for d in ("algorithm", "scenario", "eval_set")}
    cell_units.update({d: v for d, v in key.items() if d != "composition"})
    if mine.empty:
        return Cell(row, column, False, (), np.empty((0, 0)), n_declared, cell_units, text="")
    tasks = _task_labels(mine[task_dims].drop_duplicates())
    sub = data
    for dim, value in key.items():
        sub = sub[sub[dim] == value]
    sub = sub.assign(_task=_task_labels(sub[task_dims]))
    sub = sub[sub["_task"].isin(set(tasks))]
    table = sub.pivot_table(index="seed", columns="_task", values="value", aggfunc="mean")
    complete = table.reindex(columns=list(tasks)).dropna(how="any")
    seeds = tuple(int(s) for s in complete.index)
    return Cell(row, column, True, seeds, complete.to_numpy(dtype=float), n_declared, cell_units)


def _task_labels(frame: pd.DataFrame) -> pd.Series:
    """One label per row naming its task (the dimensions a cell aggregates over)."""
    if frame.empty or not frame.shape[1]:
        return pd.Series("", index=frame.index, dtype=object)
    return frame.astype(str).agg(" / ".join, axis=1)


def _fill_statistics(cells, kind: str, decimals: int, reps: int, confidence: float, seed: int) -> None:
    """Point and spread of every cell by the table's cell kind, and its display text.

    Statistics pool the cell's seeds × tasks scores (as `harness.analysis.stats` defines them).
    """
    cells = [c for c in cells if c.applicable]
    scored = [c for c in cells if c.n > 0]
    if kind == "iqm_ci" and scored:
        score_dict = {str(i): c.scores for i, c in enumerate(scored)}
        estimates = stats.stratified_bootstrap_ci(score_dict, stats.iqm, reps=reps,
                                                  confidence=confidence, seed=seed)
        for i, c in enumerate(scored):
            c.point, c.a, c.b = (float(v) for v in estimates[str(i)])
    for c in scored:
        if kind == "mean_std":
            c.point = float(stats.mean(c.scores))
            c.a = float(stats.std(c.scores, ddof=1)) if c.scores.size > 1 else math.nan
        elif kind == "median_iqr":
            c.point = float(np.median(c.scores))
            c.a, c.b = (float(q) for q in stats.iqr(c.scores))
    for c in cells:
        c.text = formats.format_cell(kind, c.point if c.n else None, c.a, c.b, c.n, c.n_declared, decimals)


def _mark_best_and_significance(model: TableModel) -> None:
    """Bold the best (highest) displayed value per column, ties all bold; mark cells that differ from it.

    Each non-best cell is tested against the column's best (two-sided, the table's test); the
    p-values of all comparisons in the table are Holm-corrected together at the table's alpha.
    """
    comparisons: list[tuple[Cell, float]] = []
    for column in model.column_keys:
        scored = [model.cell(r, column) for r in model.row_keys if model.cell(r, column).n > 0]
        if not scored:
            continue
        shown = {id(c): float(formats.fmt_number(c.point, model.decimals)) for c in scored}
        best_shown = max(shown.values())
        for c in scored:
            c.bold = shown[id(c)] == best_shown
        best = max((c for c in scored if c.bold), key=lambda c: (c.n, c.point))
        for c in scored:
            if c.bold or c.n < 2 or best.n < 2:
                continue
            comparisons.append((c, _two_sided_p(model.spec.test, best.per_seed, c.per_seed)))
    if not comparisons:
        return
    pvalues = np.array([p for _, p in comparisons])
    adjusted = np.asarray(compare.holm(pvalues), dtype=float)
    reject = np.asarray(compare.holm_reject(pvalues, model.spec.alpha), dtype=bool)
    for (c, p), adj, rej in zip(comparisons, adjusted, reject):
        c.pvalue, c.p_adjusted, c.significant = p, float(adj), bool(rej)
        if rej:
            c.text = _with_mark(c.text)


def _two_sided_p(test: str, best: np.ndarray, other: np.ndarray) -> float:
    """p-value of best vs other; when undefined (Welch's t with both samples constant) it is 0 for
    different values and 1 for equal ones, the limit of the statistic."""
    fn = compare.welch_t if test == "welch" else compare.mann_whitney
    with warnings.catch_warnings():    # scipy warns on constant samples (e.g. every seed wins); p is still right
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        p = float(fn(best, other, alternative="two-sided").pvalue)
    if math.isnan(p) and np.ptp(best) == 0 and np.ptp(other) == 0:
        return 0.0 if best[0] != other[0] else 1.0
    return p


def _with_mark(text: str) -> str:
    """Put the significance mark after the value, before any `(n=k/K)` suffix."""
    head, sep, tail = text.partition(" (n=")
    return f"{head}{formats.SIG_MARK}{sep}{tail}"


# --- references and failures ------------------------------------------------------------------

def _attach_references(model: TableModel, path: Path) -> None:
    ref = model.spec.reference
    metric = paper_metric(model.spec.metric, ref.metric)
    published = ReferenceTable.load(ref.paper, ref.table, metric, path)
    model.reference_label = f"{ref.paper} Table {ref.table} ({metric})"
    skipped = 0
    for (row, column), cell in model.cells.items():
        if dict(zip(model.layout.keyed, row + column)).get("composition", ALL_COMPOSITIONS) != ALL_COMPOSITIONS:
            continue                   # papers report aggregates over an evaluation set only
        alg, scen, ev = (cell.units.get(d) for d in ("algorithm", "scenario", "eval_set"))
        if not cell.applicable or alg is None or scen is None:
            skipped += cell.applicable
            continue
        number = published.find(ref.algorithms.get(alg, alg), scen, ev)
        if number is None:
            continue
        per_seed = cell.per_seed
        ours_mean = float(np.mean(per_seed)) if cell.n else math.nan
        ours_std = float(np.std(per_seed, ddof=1)) if cell.n > 1 else math.nan
        pvalue, consistent = math.nan, None
        if cell.n > 1 and number.seeds > 1 and math.isfinite(number.std):
            pvalue, consistent = compare.consistent_with_reference(
                per_seed, number.mean, number.std, number.seeds, model.spec.alpha)
            pvalue, consistent = float(pvalue), bool(consistent)
        model.references.append(ReferenceComparison(
            algorithm=alg, scenario=scen, eval_set=ev, ours_mean=ours_mean, ours_std=ours_std,
            ours_n=cell.n, paper_mean=number.mean, paper_std=number.std, paper_n=number.seeds,
            deviation=ours_mean - number.mean, pvalue=pvalue, consistent=consistent))
    if skipped:
        model.notes.append(f"{skipped} cells average several algorithms or scenarios and have no "
                           f"published counterpart.")
    if not model.references:
        model.notes.append(f"No cell of this table matches a row of {model.reference_label}.")


def _attach_failures(model: TableModel, per_run: pd.DataFrame, runs: pd.DataFrame | None,
                     units: pd.DataFrame) -> None:
    """List failed runs of the table's algorithms × scenarios; count runs not finished yet."""
    source = runs if runs is not None and not runs.empty else \
        per_run.drop_duplicates("run_id") if "run_id" in per_run else pd.DataFrame()
    if source.empty or "status" not in source:
        return
    source = source[source["algorithm"].astype(str).isin(set(units["algorithm"]))
                    & source["scenario"].astype(str).isin(set(units["scenario"]))]
    failed = source[source["status"] == "failed"]
    model.failed = [
        FailedRun(run_id=str(r.get("run_id", "")), algorithm=str(r["algorithm"]), scenario=str(r["scenario"]),
                  seed=int(r["seed"]), reason=str(r.get("reason", "") or "no reason recorded"))
        for _, r in failed.sort_values(["algorithm", "scenario", "seed"]).iterrows()
    ]
    model.unfinished = int(source["status"].isin(["running", "pending"]).sum())


def _caption(spec: ReportTable, suite: Suite, reps: int, confidence: float) -> str:
    n = len(suite.seed_list)
    what = {
        "mean_std": f"mean {formats.PLUS_MINUS} standard deviation (ddof=1) over runs",
        "iqm_ci": f"interquartile mean [{confidence:.0%} stratified bootstrap CI, {reps:,} resamples]",
        "median_iqr": f"median (25th{formats.EN_DASH}75th percentile) over runs",
    }[spec.cell]
    scope = f", evaluation set {spec.eval_set}" if spec.eval_set else ""
    test = "Welch t-test" if spec.test == "welch" else "Mann-Whitney U test"
    return (f"{suite.name} / {spec.table}: {spec.metric}{scope}; {what}, {n} seeds declared. "
            f"Bold: best in column (ties on the displayed value included). {formats.SIG_MARK}: differs "
            f"from the column's best ({test}, two-sided, Holm-corrected over this table, "
            f"alpha={spec.alpha}). {formats.MISSING}: no finished run; (n=k/K): k of K seeds finished.")
