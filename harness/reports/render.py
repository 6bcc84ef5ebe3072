"""Render a computed table (`tables.TableModel`) as Markdown, LaTeX (booktabs), CSV and HTML.

Every output carries the methods statement and the provenance block in its own idiom: a Markdown
section, LaTeX comments, `#` comment lines in CSV, an HTML section.
"""
from __future__ import annotations

import math

import pandas as pd

from harness.reports import formats
from harness.reports.formats import html_escape, latex_escape, markdown_escape
from harness.reports.provenance import Provenance
from harness.reports.tables import Cell, ReferenceComparison, TableModel

REFERENCE_HEADER = ["algorithm", "scenario", "eval set", "ours", "published", "deviation", "CI of deviation",
                    "p (differs)", "p (equivalent)", "verdict"]


def key_label(key: tuple[str, ...]) -> str:
    return " / ".join(key) if key else "all"


def _num(x: float, decimals: int) -> str:
    return formats.fmt_number(x, decimals)


def _signed(x: float, decimals: int) -> str:
    text = _num(x, decimals)
    return text if text == formats.MISSING or text.startswith("-") or float(text) == 0 else f"+{text}"


def _mean_std(mean: float, std: float, n: int, decimals: int) -> str:
    if math.isnan(mean):
        return formats.MISSING
    spread = f" {formats.PLUS_MINUS} {_num(std, decimals)}" if not math.isnan(std) else ""
    return f"{_num(mean, decimals)}{spread} (n={n})"


def reference_rows(model: TableModel) -> list[list[str]]:
    """The paper-comparison table as display strings, one row per matched cell."""
    d = model.decimals

    def ci(r: ReferenceComparison) -> str:
        return formats.MISSING if math.isnan(r.ci_low) else \
            f"[{_signed(r.ci_low, d)}, {_signed(r.ci_high, d)}]"

    return [[r.algorithm, r.scenario, r.eval_set or "", _mean_std(r.ours_mean, r.ours_std, r.ours_n, d),
             _mean_std(r.paper_mean, r.paper_std, r.paper_n, d), _signed(r.deviation, d), ci(r),
             formats.format_pvalue(r.p_difference), formats.format_pvalue(r.p_equivalence),
             r.verdict or formats.MISSING] for r in model.references]


def reference_legend(model: TableModel) -> str:
    """How the paper comparison was tested, in one paragraph."""
    level = 1 - model.spec.alpha
    margins = sorted({r.margin for r in model.references if not math.isnan(r.margin)})
    equivalence = (f"equivalent = both one-sided tests (TOST) reject a deviation of ±{margins[0]:g} or more at "
                   f"alpha={model.spec.alpha}" if margins else
                   "no equivalence margin applies to this metric (set reference.margin), so agreement is never shown")
    return (f"Published numbers: {model.reference_label}; deviation = ours − published, with its {level:.0%} "
            f"Welch confidence interval from both sides' mean, std and seed count; different = Welch's "
            f"two-sided test rejects a zero deviation at alpha={model.spec.alpha}; {equivalence}; "
            f"inconclusive = neither, the seeds cannot tell.")


def failed_lines(model: TableModel) -> list[str]:
    lines = [f"{f.algorithm} on {f.scenario}, seed {f.seed} (run {f.run_id}): {f.reason}" for f in model.failed]
    if model.unfinished:
        lines.append(f"{model.unfinished} runs are still running or pending; their cells are partial.")
    return lines


# --- Markdown ---------------------------------------------------------------------------------

def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(markdown_escape(h) for h in header) + " |",
           "|" + "|".join(["---"] * len(header)) + "|"]
    out += ["| " + " | ".join(markdown_escape(c) for c in row) + " |" for row in rows]
    return out


def _md_cell(cell: Cell) -> str:
    return f"**{cell.text}**" if cell.bold and cell.text else cell.text


def table_markdown(model: TableModel) -> str:
    """The table with caption, failed runs and paper comparison (no provenance)."""
    header = [" / ".join(model.layout.rows) or ""] + [key_label(c) for c in model.column_keys]
    rows = [[key_label(r)] + [_md_cell(model.cell(r, c)) for c in model.column_keys] for r in model.row_keys]
    out = [f"### {model.suite} / {model.spec.table}", "", model.caption, ""] + _md_table(header, rows)
    if model.failed or model.unfinished:
        out += ["", "Failed runs (not averaged in):" if model.failed else "Unfinished runs:", ""]
        out += [f"- {line}" for line in failed_lines(model)]
    if model.spec.reference is not None:
        out += ["", reference_legend(model), ""]
        out += _md_table(REFERENCE_HEADER, reference_rows(model)) if model.references else []
    if model.notes:
        out += ["", *[f"Note: {n}" for n in model.notes]]
    return "\n".join(out) + "\n"


def document_markdown(tables: list[TableModel], methods: list[str], provenance: Provenance,
                      figures: list[str] = (), section: str = "") -> str:
    """A Markdown document: tables, a further section (the generalisation analysis), figures, methods,
    provenance."""
    parts = [f"# Report: {tables[0].suite if tables else ''}", ""]
    parts += [table_markdown(t) for t in tables]
    if section:
        parts += [section, ""]
    if figures:
        parts += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    parts += ["## Methods", ""] + [f"- {markdown_escape(p)}" for p in methods] + [""]
    parts += ["## Provenance", ""] + [f"- {markdown_escape(k)}: `{v}`" for k, v in provenance.items] + [""]
    return "\n".join(parts)


# --- LaTeX ------------------------------------------------------------------------------------

def _tex_cell(cell: Cell) -> str:
    text = latex_escape(cell.text)
    return f"\\textbf{{{text}}}" if cell.bold and cell.text else text


def _tex_column_header(model: TableModel) -> list[str]:
    """One header line per column dimension; upper levels grouped with multicolumn + cmidrule."""
    n_rows_dims = max(1, len(model.layout.rows))
    levels = max(1, len(model.layout.columns))
    lines = []
    for level in range(levels):
        if level == levels - 1:
            cells = [latex_escape(d) for d in (model.layout.rows or ("",))]
            cells += [latex_escape(c[level] if c else "all") for c in model.column_keys]
            lines.append(" & ".join(cells) + r" \\")
            continue
        groups: list[tuple[tuple[str, ...], int]] = []
        for c in model.column_keys:
            prefix = c[: level + 1]
            if groups and groups[-1][0] == prefix:
                groups[-1] = (prefix, groups[-1][1] + 1)
            else:
                groups.append((prefix, 1))
        cells, rules, start = [""] * n_rows_dims, [], n_rows_dims + 1
        for prefix, span in groups:
            cells.append(f"\\multicolumn{{{span}}}{{c}}{{{latex_escape(prefix[-1])}}}")
            rules.append(f"\\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        lines += [" & ".join(cells) + r" \\", " ".join(rules)]
    return lines


def _tex_tabular(align: str, header: list[str], body: list[str]) -> list[str]:
    return [f"\\begin{{tabular}}{{{align}}}", r"\toprule", *header, r"\midrule", *body,
            r"\bottomrule", r"\end{tabular}"]


def table_latex(model: TableModel, methods: list[str], provenance: Provenance) -> str:
    """A booktabs table (plus a paper-comparison table when a reference is set), provenance as comments."""
    n_row_dims = max(1, len(model.layout.rows))
    body = []
    for r in model.row_keys:
        keys = list(r) if r else ["all"]
        body.append(" & ".join([latex_escape(k) for k in keys] +
                               [_tex_cell(model.cell(r, c)) for c in model.column_keys]) + r" \\")
    label = f"tab:{model.suite}-{model.spec.table}".replace("_", "-").replace(" ", "-")
    out = ["% Generated by harness.reports; requires \\usepackage{booktabs}."]
    out += [f"% {line}" for line in provenance.lines()]
    out += [f"% Methods: {p}" for p in methods]
    out += [r"\begin{table}[t]", r"\centering", f"\\caption{{{latex_escape(model.caption)}}}",
            f"\\label{{{label}}}"]
    out += _tex_tabular("l" * n_row_dims + "c" * len(model.column_keys), _tex_column_header(model), body)
    runs, notes = failed_lines(model), [f"Note: {n}" for n in model.notes]
    if runs or notes:
        out += [r"\par\smallskip\footnotesize"]
        if runs:
            prefix = "Failed runs (not averaged in): " if model.failed else ""
            out += [latex_escape(prefix + "; ".join(runs))]
        out += [latex_escape(n) for n in notes]
    out += [r"\end{table}"]
    if model.spec.reference is not None and model.references:
        ref_body = [" & ".join(latex_escape(c) for c in row) + r" \\" for row in reference_rows(model)]
        out += ["", r"\begin{table}[t]", r"\centering",
                f"\\caption{{{latex_escape(model.suite + ' / ' + model.spec.table)}: ours next to the "
                f"published numbers. {latex_escape(reference_legend(model))}}}",
                f"\\label{{{label}-reference}}"]
        out += _tex_tabular("lll" + "c" * 7, [" & ".join(latex_escape(h) for h in REFERENCE_HEADER) + r" \\"],
                            ref_body)
        out += [r"\end{table}"]
    return "\n".join(out) + "\n"


# --- CSV --------------------------------------------------------------------------------------

_SPREAD_COLUMNS = {"mean_std": ("std", None), "iqm_ci": ("ci_low", "ci_high"), "median_iqr": ("q25", "q75")}


def table_frame(model: TableModel) -> pd.DataFrame:
    """Long, machine-readable form: one row per cell with its numbers, marks and paper comparison."""
    a_name, b_name = _SPREAD_COLUMNS[model.spec.cell]
    refs = {(r.algorithm, r.scenario, r.eval_set): r for r in model.references}
    records = []
    for r in model.row_keys:
        for c in model.column_keys:
            cell = model.cell(r, c)
            if not cell.applicable:
                continue
            rec = dict(zip(model.layout.keyed, r + c))
            rec.update({"cell": cell.text, "value": cell.point if cell.n else math.nan, a_name: cell.a})
            if b_name:
                rec[b_name] = cell.b
            rec.update({"n": cell.n, "n_declared": cell.n_declared, "bold": cell.bold,
                        "significant": cell.significant, "pvalue": cell.pvalue, "p_adjusted": cell.p_adjusted})
            if model.spec.reference is not None:
                ref: ReferenceComparison | None = refs.get(
                    (cell.units.get("algorithm"), cell.units.get("scenario"), cell.units.get("eval_set")))
                rec.update({"paper_mean": ref.paper_mean if ref else math.nan,
                            "paper_std": ref.paper_std if ref else math.nan,
                            "paper_n": ref.paper_n if ref else math.nan,
                            "deviation": ref.deviation if ref else math.nan,
                            "deviation_ci_low": ref.ci_low if ref else math.nan,
                            "deviation_ci_high": ref.ci_high if ref else math.nan,
                            "p_differs": ref.p_difference if ref else math.nan,
                            "p_equivalent": ref.p_equivalence if ref else math.nan,
                            "equivalence_margin": ref.margin if ref else math.nan,
                            "verdict": (ref.verdict or "") if ref else ""})
            records.append(rec)
    return pd.DataFrame.from_records(records)


def table_csv(model: TableModel, methods: list[str], provenance: Provenance) -> str:
    """CSV with `#` comment lines (caption, failed runs, methods, provenance) above the header."""
    comments = [f"caption: {model.caption}"]
    comments += [f"failed run: {line}" for line in failed_lines(model)]
    comments += [f"note: {n}" for n in model.notes]
    comments += [f"methods: {p}" for p in methods]
    comments += [f"provenance: {line}" for line in provenance.lines()]
    head = "".join(f"# {' '.join(line.split())}\n" for line in comments)
    return head + table_frame(model).to_csv(index=False, lineterminator="\n")


# --- HTML -------------------------------------------------------------------------------------

def _html_table(header: list[str], rows: list[list[str]], caption: str = "") -> list[str]:
    out = ["<table>"]
    if caption:
        out.append(f"<caption>{html_escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html_escape(h)}</th>" for h in header) + "</tr></thead>")
    out.append("<tbody>")
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    out += ["</tbody>", "</table>"]
    return out


def table_html_fragment(model: TableModel) -> str:
    header = [" / ".join(model.layout.rows)] + [key_label(c) for c in model.column_keys]
    rows = []
    for r in model.row_keys:
        row = [html_escape(key_label(r))]
        for c in model.column_keys:
            cell = model.cell(r, c)
            text = html_escape(cell.text)
            row.append(f"<b>{text}</b>" if cell.bold and cell.text else text)
        rows.append(row)
    out = [f"<h2>{html_escape(model.suite + ' / ' + model.spec.table)}</h2>"]
    out += _html_table(header, rows, model.caption)
    if model.failed or model.unfinished:
        out += ["<p>Failed runs (not averaged in):</p>" if model.failed else "<p>Unfinished runs:</p>", "<ul>"]
        out += [f"<li>{html_escape(line)}</li>" for line in failed_lines(model)] + ["</ul>"]
    if model.spec.reference is not None and model.references:
        out += _html_table(REFERENCE_HEADER, [[html_escape(c) for c in row] for row in reference_rows(model)],
                           reference_legend(model))
    out += [f"<p>Note: {html_escape(n)}</p>" for n in model.notes]
    return "\n".join(out)


def document_html(tables: list[TableModel], methods: list[str], provenance: Provenance,
                  figures: list[str] = (), section: str = "") -> str:
    """A standalone HTML page: tables, a further section (its Markdown shown as text), figures, methods,
    provenance."""
    title = f"Report: {tables[0].suite}" if tables else "Report"
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">", f"<title>{html_escape(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse;"
           "margin:1em 0}th,td{border-top:1px solid #999;border-bottom:1px solid #999;padding:.2em .6em}"
           "caption{caption-side:top;text-align:left;font-size:.9em}</style>",
           "</head><body>", f"<h1>{html_escape(title)}</h1>"]
    out += [table_html_fragment(t) for t in tables]
    if section:
        out += ["<section><pre>", html_escape(section), "</pre></section>"]
    if figures:
        out += ["<section><h2>Figures</h2>"] + [f"<img src=\"{html_escape(f)}\" alt=\"{html_escape(f)}\" "
                                                 f"style=\"max-width:100%\">" for f in figures] + ["</section>"]
    out += ["<section id=\"methods\"><h2>Methods</h2><ul>"] + [f"<li>{html_escape(p)}</li>" for p in methods]
    out += ["</ul></section>", "<section id=\"provenance\"><h2>Provenance</h2><dl>"]
    out += [f"<dt>{html_escape(k)}</dt><dd><code>{html_escape(v)}</code></dd>" for k, v in provenance.items]
    out += ["</dl></section>", "</body></html>"]
    return "\n".join(out) + "\n"
