"""Published numbers from `suites/references/paper_tables.csv`, matched to our table cells.

Our registry names are lower-case (`qmix`, `refil_vdn`); papers write `QMIX`, `REFIL(VDN)`. Names
match after case folding and dropping punctuation. A paper's evaluation group matches our eval set
by name or by its first word (`train 3-5` is our `train`); an empty group is the training set.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.spec import TRAIN_SET

_RELATIVE = Path("suites") / "references" / "paper_tables.csv"
# the checkout holding this package (editable install), else the checkout the harness is run from
DEFAULT_PATH = next((p for p in (Path(__file__).resolve().parents[2] / _RELATIVE, Path.cwd() / _RELATIVE)
                     if p.exists()), Path(__file__).resolve().parents[2] / _RELATIVE)

# our per-run metric -> the metric name the reference CSV uses
PAPER_METRIC = {
    "final_win_rate": "test_win_rate",
    "auc_win_rate": "auc",
    "final_return": "return",
}


@dataclass(frozen=True)
class PaperNumber:
    """One published mean ± std over `seeds` runs."""

    paper: str
    table: str
    metric: str
    algorithm: str
    scenario: str
    eval_group: str
    mean: float
    std: float          # NaN when the paper gives none
    seeds: int


def normalise_name(name: object) -> str:
    """Case-folded name with punctuation and spaces removed (`OW-QMIX` -> `owqmix`)."""
    return re.sub(r"[^0-9a-z.=]+", "", str(name).casefold())


def eval_group_matches(group: str, eval_set: str | None) -> bool:
    """Whether a paper's evaluation group denotes our eval set."""
    group = group.strip()
    if not group:
        return eval_set in (None, TRAIN_SET)
    if eval_set is None:
        return False
    return normalise_name(group) == normalise_name(eval_set) or \
        normalise_name(group.split()[0]) == normalise_name(eval_set)


class ReferenceTable:
    """The published numbers of one paper table for one metric."""

    def __init__(self, numbers: list[PaperNumber]):
        self.numbers = numbers

    @classmethod
    def load(cls, paper: str, table: str, metric: str, path: Path = DEFAULT_PATH) -> "ReferenceTable":
        """Rows of `path` for (paper, table, metric); raise naming what exists if there are none."""
        data = pd.read_csv(path, dtype={"table": str, "eval_group": str})
        data["eval_group"] = data["eval_group"].fillna("")
        sel = data[(data["paper"].str.casefold() == paper.casefold())
                   & (data["table"].astype(str) == str(table))
                   & (data["metric"] == metric)]
        if sel.empty:
            have = sorted({f"{p}/{t}/{m}" for p, t, m in zip(data["paper"], data["table"], data["metric"])})
            raise ValueError(f"{path}: no reference rows for paper={paper!r} table={table!r} "
                             f"metric={metric!r}; available paper/table/metric: {', '.join(have)}")
        numbers = [
            PaperNumber(paper=r.paper, table=str(r.table), metric=r.metric, algorithm=str(r.algorithm),
                        scenario=str(r.scenario), eval_group=str(r.eval_group), mean=float(r.mean),
                        std=float(r.std) if not pd.isna(r.std) else math.nan, seeds=int(r.seeds))
            for r in sel.itertuples(index=False)
        ]
        return cls(numbers)

    def find(self, algorithm: str, scenario: str, eval_set: str | None) -> PaperNumber | None:
        """The published number for one of our cells, or None when the paper has none."""
        alg, scen = normalise_name(algorithm), normalise_name(scenario)
        hits = [n for n in self.numbers
                if normalise_name(n.algorithm) == alg and normalise_name(n.scenario) == scen
                and eval_group_matches(n.eval_group, eval_set)]
        if len(hits) > 1:   # punctuation folding merged two names: fall back to case-insensitive equality
            hits = [n for n in hits if n.algorithm.casefold() == str(algorithm).casefold()] or hits[:1]
        return hits[0] if hits else None


def paper_metric(table_metric: str, declared: str | None) -> str:
    """The reference CSV's metric for a table: the declared one (our names are mapped too), else
    the mapping of the table's metric."""
    if declared:
        return PAPER_METRIC.get(declared, declared)
    if table_metric not in PAPER_METRIC:
        raise ValueError(f"metric {table_metric!r} has no published counterpart; set reference.metric "
                         f"to one of {sorted(set(PAPER_METRIC.values()))}")
    return PAPER_METRIC[table_metric]
