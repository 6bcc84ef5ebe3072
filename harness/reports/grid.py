"""The cells a report table should have, from the suite's declaration, whether or not runs finished.

A table's rows and columns are dimensions of the tidy results; dimensions left out of both become
"tasks" inside a cell (rliable's [runs × tasks] score matrix). Declared units come from the suite so a
cell with no finished run is shown as missing instead of disappearing.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.spec import TRAIN_SET
from harness.suite.models import ReportTable, Suite

DIMS = ("algorithm", "scenario", "eval_set", "composition")
UNIT_DIMS = ("algorithm", "scenario", "eval_set")
ALL_COMPOSITIONS = "all"


def as_dims(value: str | list[str]) -> tuple[str, ...]:
    """A table's `rows`/`columns` declaration as a tuple of dimension names."""
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class TableLayout:
    """Which dimensions index rows, columns and the tasks aggregated within a cell."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    tasks: tuple[str, ...]

    @property
    def keyed(self) -> tuple[str, ...]:
        return self.rows + self.columns


def layout_for(spec: ReportTable) -> TableLayout:
    """Split the four dimensions into rows, columns and within-cell tasks; reject repeats."""
    rows, columns = as_dims(spec.rows), as_dims(spec.columns)
    both = rows + columns
    if len(set(both)) != len(both):
        raise ValueError(f"report table {spec.table!r}: rows {list(rows)} and columns {list(columns)} "
                         f"repeat a dimension; each of {', '.join(DIMS)} may appear once")
    tasks = tuple(d for d in UNIT_DIMS if d not in both)
    return TableLayout(rows=rows, columns=columns, tasks=tasks)


def declared_units(suite: Suite) -> pd.DataFrame:
    """Every (algorithm, scenario, eval_set) the suite will produce, in declaration order."""
    records = []
    for alg in suite.algorithm_entries:
        for scen in suite.scenario_entries:
            for eval_set in [TRAIN_SET, *scen.eval.keys()]:
                records.append({"algorithm": alg.row_name, "scenario": scen.name, "eval_set": eval_set,
                                "composition": ALL_COMPOSITIONS})
    return pd.DataFrame.from_records(records, columns=list(DIMS))


def table_units(spec: ReportTable, suite: Suite, data: pd.DataFrame) -> pd.DataFrame:
    """Declared units plus any present in the data, restricted to the table's eval-set filter.

    Compositions other than the aggregate appear only when `composition` is a row or column.
    """
    layout = layout_for(spec)
    units = declared_units(suite)
    if not data.empty:
        units = pd.concat([units, data[list(DIMS)]], ignore_index=True)
    if "composition" not in layout.keyed:
        units = units[units["composition"] == ALL_COMPOSITIONS]
    if spec.eval_set is not None:
        units = units[units["eval_set"] == spec.eval_set]
    return units.drop_duplicates().reset_index(drop=True)


def ordered_keys(units: pd.DataFrame, dims: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Distinct key tuples in first-seen order (the suite's declaration order)."""
    if not dims:
        return [()]
    seen: dict[tuple[str, ...], None] = {}
    for key in units[list(dims)].itertuples(index=False, name=None):
        seen.setdefault(tuple(str(k) for k in key), None)
    keys = list(seen)
    if "composition" in dims:   # within its group, the aggregate goes after the individual compositions
        i = dims.index("composition")
        group_rank: dict[tuple[str, ...], int] = {}
        for k in keys:
            group_rank.setdefault(k[:i] + k[i + 1:], len(group_rank))
        keys.sort(key=lambda k: (group_rank[k[:i] + k[i + 1:]], k[i] == ALL_COMPOSITIONS))
    return keys
