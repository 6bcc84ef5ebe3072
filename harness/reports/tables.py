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
    significant: bool = False         # differs from the column's best (or compare_to row) after Holm
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
    """Our cell next to the published number: the deviation, its CI, difference and equivalence tests."""

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
    ci_low: float                     # (1 − alpha) Welch CI of the deviation; NaN when untestable
    ci_high: float
    p_difference: float               # two-sided Welch p of "deviation = 0"; NaN when untestable
    p_equivalence: float              # TOST p of "|deviation| ≥ margin"; NaN without margin
    margin: float                     # NaN when no margin applies
    verdict: str | None               # different | equivalent | inconclusive; None when untestable


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
    if spec.compare_to is not None and spec.compare_to not in {_row_label(r) for r in row_keys}:
        raise ValueError(f"report table {spec.table!r}: compare_to {spec.compare_to!r} is not one of its rows "
                         f"({', '.join(_row_label(r) for r in row_keys)})")
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


CELL_STATISTIC = {"mean_std": stats.mean, "iqm_ci": stats.iqm, "median_iqr": stats.median}
CELL_STATISTIC_NAME = {"mean_std": "mean", "iqm_ci": "interquartile mean", "median_iqr": "median"}
TEST_NAMES = {"welch": "Welch t-test on per-seed scores", "mannwhitney": "Mann-Whitney U test on per-seed scores",
              "permutation": "permutation test of the difference in the cell's {stat} (runs exchanged within "
                             "each task; every split when one task has at most 50,000, else 9,999 random permutations)"}


def table_test(spec: ReportTable) -> str:
    """The test behind the marks: declared, else Welch for mean cells and a permutation test on the
    displayed statistic for IQM and median cells."""
    return spec.test or ("welch" if spec.cell == "mean_std" else "permutation")


def _mark_best_and_significance(model: TableModel) -> None:
    """Bold the best (highest) displayed value per column, ties all bold; mark significant differences.

    With `compare_to`, each cell is tested against that row's cell in its column; otherwise every
    pair of cells in a column is tested, and a cell is marked when it differs from a bold (best)
    cell: choosing the best from the data does not bias the marks because every pair is in the
    family. All p-values of the table are Holm-corrected together at the table's alpha. The test is
    on the statistic the cell shows (see `table_test`).
    """
    comparisons: list[tuple[Cell, Cell, float]] = []
    for column in model.column_keys:
        scored = [(r, model.cell(r, column)) for r in model.row_keys if model.cell(r, column).n > 0]
        if not scored:
            continue
        shown = {id(c): float(formats.fmt_number(c.point, model.decimals)) for _, c in scored}
        best_shown = max(shown.values())
        for _, c in scored:
            c.bold = shown[id(c)] == best_shown
        if model.spec.compare_to is not None:
            base = [c for r, c in scored if _row_label(r) == model.spec.compare_to]
            pairs = [(base[0], c) for _, c in scored if base and c is not base[0]]
        else:
            pairs = [(a, b) for i, (_, a) in enumerate(scored) for _, b in scored[i + 1:]]
        comparisons += [(a, b, _two_sided_p(model.spec, a, b)) for a, b in pairs if a.n >= 2 and b.n >= 2]
    if not comparisons:
        return
    pvalues = np.array([p for *_, p in comparisons])
    adjusted = np.asarray(compare.holm(pvalues), dtype=float)
    reject = np.asarray(compare.holm_reject(pvalues, model.spec.alpha), dtype=bool)
    for (a, b, p), adj, rej in zip(comparisons, adjusted, reject):
        if model.spec.compare_to is not None:
            marked = [b]
        else:      # the cell of the pair that is not best carries the mark (a pair of two bold cells: none)
            marked = [c for c, other in ((a, b), (b, a)) if other.bold and not c.bold]
        for c in marked:
            if math.isnan(c.pvalue) or p < c.pvalue:
                c.pvalue, c.p_adjusted = p, float(adj)
            c.significant = c.significant or bool(rej)
    for cell in model.cells.values():
        if cell.significant:
            cell.text = _with_mark(cell.text)


def _row_label(row: Key) -> str:
    return " / ".join(row)


def _two_sided_p(spec: ReportTable, a: Cell, b: Cell) -> float:
    """Two-sided p-value of cell a against cell b by the table's test. Welch's t with both samples
    constant is undefined: then 0 for different values and 1 for equal ones, the statistic's limit."""
    test = table_test(spec)
    if test == "permutation" and a.scores.shape[1] == b.scores.shape[1]:
        return compare.permutation_test(a.scores, b.scores, CELL_STATISTIC[spec.cell]).pvalue
    x, y = a.per_seed, b.per_seed
    fn = compare.mann_whitney if test == "mannwhitney" else compare.welch_t
    with warnings.catch_warnings():    # scipy warns on constant samples (e.g. every seed wins); p is still right
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        p = float(fn(x, y, alternative="two-sided").pvalue)
    if math.isnan(p) and np.ptp(x) == 0 and np.ptp(y) == 0:
        return 0.0 if x[0] != y[0] else 1.0
    return p


def _with_mark(text: str) -> str:
    """Put the significance mark after the value, before any `(n=k/K)` suffix."""
    head, sep, tail = text.partition(" (n=")
    return f"{head}{formats.SIG_MARK}{sep}{tail}"


# --- references and failures ------------------------------------------------------------------

WIN_RATE_MARGIN = 0.1     # default equivalence margin for metrics on [0, 1] (ten percentage points)


def equivalence_margin(spec: ReportTable) -> float | None:
    """The TOST margin of a table's paper comparison: declared, else 0.1 for win rates, else none."""
    if spec.reference is not None and spec.reference.margin is not None:
        return spec.reference.margin
    return WIN_RATE_MARGIN if "win_rate" in spec.metric else None


def _attach_references(model: TableModel, path: Path) -> None:
    ref = model.spec.reference
    metric = paper_metric(model.spec.metric, ref.metric)
    published = ReferenceTable.load(ref.paper, ref.table, metric, path)
    model.reference_label = f"{ref.paper} Table {ref.table} ({metric})"
    margin = equivalence_margin(model.spec)
    skipped = 0
    for (row, column), cell in model.cells.items():
        if dict(zip(model.layout.keyed, row + column)).get("composition", ALL_COMPOSITIONS) != ALL_COMPOSITIONS:
            continue                   # papers report aggregates over an evaluation set only
        alg, scen, ev = (cell.units.get(d) for d in ("algorithm", "scenario", "eval_set"))
        if not cell.applicable or alg is None or scen is None:
            skipped += cell.applicable
            continue
        number = published.find(ref.algorithms.get(alg, alg), ref.scenarios.get(scen, scen), ev)
        if number is None:
            continue
        per_seed = cell.per_seed
        ours_mean = float(np.mean(per_seed)) if cell.n else math.nan
        ours_std = float(np.std(per_seed, ddof=1)) if cell.n > 1 else math.nan
        tested = None
        if cell.n > 1 and number.seeds > 1 and math.isfinite(number.std):
            tested = compare.compare_with_reference(per_seed, number.mean, number.std, number.seeds,
                                                    model.spec.alpha, margin)
        nan = math.nan
        model.references.append(ReferenceComparison(
            algorithm=alg, scenario=scen, eval_set=ev, ours_mean=ours_mean, ours_std=ours_std,
            ours_n=cell.n, paper_mean=number.mean, paper_std=number.std, paper_n=number.seeds,
            deviation=ours_mean - number.mean, ci_low=tested.ci_low if tested else nan,
            ci_high=tested.ci_high if tested else nan, p_difference=tested.p_difference if tested else nan,
            p_equivalence=tested.p_equivalence if tested else nan,
            margin=nan if margin is None else margin, verdict=tested.verdict if tested else None))
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
    test = TEST_NAMES[table_test(spec)].format(stat=CELL_STATISTIC_NAME[spec.cell])
    if table_test(spec) != "permutation" and spec.cell != "mean_std":
        test += f" (their means; the cells show the {CELL_STATISTIC_NAME[spec.cell]})"
    against = (f"differs from row {spec.compare_to} ({test}, two-sided, Holm-corrected over this table's "
               f"comparisons with it" if spec.compare_to else
               f"differs from the column's best ({test}, two-sided; every pair of cells in a column is "
               f"tested, Holm-corrected over all pairs of this table")
    return (f"{suite.name} / {spec.table}: {spec.metric}{scope}; {what}, {n} seeds declared. "
            f"Bold: best in column (ties on the displayed value included). {formats.SIG_MARK}: {against}, "
            f"alpha={spec.alpha}). {formats.MISSING}: no finished run; (n=k/K): k of K seeds finished.")
