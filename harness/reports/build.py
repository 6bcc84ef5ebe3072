"""Build a suite's report folder: every declared table in four formats, figures, methods, provenance.

`build_report` is the one entry point the CLI calls (`harness report SUITE`); it reads nothing from
disk besides the paper numbers, so tests drive it with synthetic frames.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from harness.analysis.metrics import PER_RUN_COLUMNS, per_run_metrics
from harness.reports import plots, render
from harness.reports.generalisation import generalisation_section
from harness.reports.methods import AnalysisSettings, methods_statement
from harness.reports.provenance import Provenance
from harness.reports.references import DEFAULT_PATH
from harness.reports.tables import TableModel, build_table
from harness.suite.models import ReportTable, Suite


@dataclass(frozen=True)
class ReportResult:
    """What a report build wrote, and the main tables as Markdown for the terminal."""

    out_dir: Path
    tables: list[TableModel]
    paths: list[Path] = field(default_factory=list)      # every file written, figures included
    figures: list[Path] = field(default_factory=list)
    markdown: str = ""


def default_table(suite: Suite, frame: pd.DataFrame) -> ReportTable:
    """The table of a suite that declares none: final win rate, algorithms × scenarios (× eval sets)."""
    declared = {e for s in suite.scenario_entries for e in s.eval}
    present = set(frame["eval_set"].astype(str)) - {"train"} if not frame.empty else set()
    columns = ["scenario", "eval_set"] if declared | present else "scenario"
    return ReportTable(table="main", metric="final_win_rate", rows="algorithm", columns=columns, cell="mean_std")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)


def _seeds_used(tables: list[TableModel], declared: int) -> int:
    """Seeds behind the report's cells: the most any cell has, or the declared count before any finish."""
    counts = [c.n for t in tables for c in t.cells.values() if c.n]
    return max(counts) if counts else declared


def build_report(frame: pd.DataFrame, runs: pd.DataFrame | None, suite: Suite, out_dir: Path,
                 provenance: Mapping[str, Any], k: int = 1, auc: str = "trapezoid",
                 reps: int = 50_000, references_path: Path = DEFAULT_PATH,
                 curve_reps: int = 2_000) -> ReportResult:
    """Write tables (md, tex, csv, html), figures (png, pdf), report.md and report.html into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = AnalysisSettings(k=k, auc=auc, reps=reps, curve_reps=curve_reps)
    per_run = per_run_metrics(frame, k=k, auc=auc) if not frame.empty else pd.DataFrame(columns=PER_RUN_COLUMNS)
    specs = list(suite.reports) or [default_table(suite, frame)]
    tables = [build_table(per_run, runs, spec, suite, reps=reps, confidence=settings.confidence,
                          seed=settings.seed, references_path=references_path) for spec in specs]
    prov = Provenance.from_dict({"suite": suite.name, "seeds": suite.seed_list, **dict(provenance)})
    n_seeds = _seeds_used(tables, len(suite.seed_list))

    paths: list[Path] = []
    for model in tables:
        methods = methods_statement(settings, n_seeds, model.spec.alpha, suite)
        stem = out_dir / _slug(model.spec.table)
        outputs = {
            ".md": render.document_markdown([model], methods, prov),
            ".tex": render.table_latex(model, methods, prov),
            ".csv": render.table_csv(model, methods, prov),
            ".html": render.document_html([model], methods, prov),
        }
        for ext, text in outputs.items():
            path = stem.with_suffix(ext)
            path.write_text(text, encoding="utf-8")
            paths.append(path)

    figures = plots.all_plots(frame, per_run, out_dir / "figures", reps=curve_reps, seed=settings.seed)
    figure_links = [str(p.relative_to(out_dir)) for p in figures if p.suffix == ".png"]
    methods = methods_statement(settings, n_seeds, specs[0].alpha, suite)
    section, section_paths = generalisation_section(per_run, out_dir, reps=min(reps, 10_000),
                                                    confidence=settings.confidence, seed=settings.seed,
                                                    order=[a.row_name for a in suite.algorithm_entries])
    if section:
        (out_dir / "generalisation.md").write_text(section + "\n", encoding="utf-8")
        paths += [out_dir / "generalisation.md", *section_paths]
    for name, text in (("report.md", render.document_markdown(tables, methods, prov, figure_links, section)),
                       ("report.html", render.document_html(tables, methods, prov, figure_links, section))):
        (out_dir / name).write_text(text, encoding="utf-8")
        paths.append(out_dir / name)
    markdown = "\n".join(render.table_markdown(t) for t in tables)
    return ReportResult(out_dir=out_dir, tables=tables, paths=paths + figures, figures=figures, markdown=markdown)
