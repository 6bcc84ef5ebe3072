"""The report's generalisation section (a suite with evaluation sets): per scenario the training-set ×
evaluation-set matrix (mean final value, bootstrap CI), the breakdown by number of agents and by
unit-type mix, and the generalisation gaps with Holm-corrected tests between algorithms; as Markdown
and as CSV files beside the tables."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.analysis.generalisation import composition_breakdown, generalisation_gaps, set_matrix
from harness.reports.formats import markdown_escape

METRIC = "final_win_rate"


def _num(x: float) -> str:
    return "—" if pd.isna(x) else f"{x:.2f}"


def _ci(row) -> str:
    value = getattr(row, "mean", None)
    value = row.gap if value is None else value
    if pd.isna(row.lo):
        return f"{_num(value)} (n={row.n})"
    return f"{_num(value)} [{_num(row.lo)}, {_num(row.hi)}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(markdown_escape(c) for c in r) + " |" for r in rows], ""]


def _pivot(data: pd.DataFrame, column: str, cell) -> tuple[list[str], list[list[str]]]:
    columns = list(dict.fromkeys(data[column]))
    rows = []
    for algorithm, g in data.groupby("algorithm", sort=False):
        by = {getattr(r, column): cell(r) for r in g.itertuples()}
        rows.append([algorithm, *[by.get(c, "—") for c in columns]])
    return ["algorithm", *columns], rows


def generalisation_section(per_run: pd.DataFrame, out_dir: Path, reps: int = 10_000, confidence: float = 0.95,
                           alpha: float = 0.05, seed: int = 0,
                           order: list[str] | None = None) -> tuple[str, list[Path]]:
    """The section's Markdown and the CSV files written (``generalisation_*.csv``); empty when no
    scenario has an evaluation set besides the training set. Algorithms appear in ``order`` (the
    suite's rows), any others after them in the frame's order."""
    if order and not per_run.empty:
        rank = {name: i for i, name in enumerate(order)}
        keys = per_run["algorithm"].map(lambda a: rank.get(a, len(rank)))
        per_run = per_run.iloc[keys.argsort(kind="stable")].reset_index(drop=True)
    matrix = set_matrix(per_run, METRIC, reps=reps, confidence=confidence, seed=seed)
    if matrix.empty or (matrix["eval_set"] != "train").sum() == 0:
        return "", []
    breakdown = composition_breakdown(per_run, METRIC)
    gaps = generalisation_gaps(per_run, METRIC, alpha=alpha, reps=reps, confidence=confidence, seed=seed)
    pct = f"{confidence:.0%}"
    out = ["## Generalisation", "",
           f"Final greedy win rate (`{METRIC}`) of finished runs. Matrix cells: mean over seeds [{pct} stratified "
           "bootstrap CI]. Gap: training set minus evaluation set, per run (a run is its own control), mean "
           f"[{pct} CI]; gaps of two algorithms are compared by Welch's t-test on per-run gaps, Holm-corrected "
           f"over all pairs and sets of a scenario (alpha={alpha}). Composition breakdown: each run's mean over the "
           "compositions of a group (every evaluated set's compositions), then mean ± std over runs.", ""]
    for scenario in dict.fromkeys(matrix["scenario"]):
        m = matrix[matrix["scenario"] == scenario]
        if (m["eval_set"] != "train").sum() == 0:
            continue
        out += [f"### {scenario}", "", "Training set × evaluation sets:", ""]
        out += _table(*_pivot(m, "eval_set", _ci))
        g = gaps.gaps[gaps.gaps["scenario"] == scenario]
        if not g.empty:
            out += ["Generalisation gap (train − set):", ""] + _table(*_pivot(g, "eval_set", _ci))
        t = gaps.tests[gaps.tests["scenario"] == scenario]
        if not t.empty:
            out += _table(["set", "a", "b", "gap a − gap b", "p (Welch)", "p (Holm)", "significant"],
                          [[r.eval_set, r.a, r.b, f"{r.difference:+.2f}", f"{r.p:.3g}", f"{r.p_holm:.3g}",
                            "yes" if r.significant else "no"] for r in t.itertuples()])
        for by, title in (("agents", "By number of agents:"), ("mix", "By unit-type mix:")):
            b = breakdown[(breakdown["scenario"] == scenario) & (breakdown["by"] == by)]
            if not b.empty:
                out += [title, ""] + _table(*_pivot(b, "group", lambda r: f"{_num(r.mean)} ± {_num(r.std)}"))
    paths = []
    for name, data in (("matrix", matrix), ("gaps", gaps.gaps), ("gap_tests", gaps.tests),
                       ("compositions", breakdown)):
        path = Path(out_dir) / f"generalisation_{name}.csv"
        data.to_csv(path, index=False)
        paths.append(path)
    return "\n".join(out), paths
