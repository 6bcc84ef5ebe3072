"""Cell text for report tables: number formatting and escaping for Markdown, LaTeX and HTML.

Ties for "best" are defined on displayed values, so everything that decides a cell's text lives here.
"""
from __future__ import annotations

import html
import math

MISSING = "—"        # no finished run in the cell
SIG_MARK = "†"       # significantly different from the column's best (Holm-corrected)
PLUS_MINUS = "±"
EN_DASH = "–"


def decimals_for(metric: str) -> int:
    """Decimals shown for a metric: two for rates and AUCs in [0, 1], one for returns and lengths."""
    return 2 if ("win_rate" in metric or metric.startswith("auc_win")) else 1


def fmt_number(x: float | None, decimals: int) -> str:
    """A number rounded for display; NaN/None become the missing mark."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return MISSING
    text = f"{x:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def seeds_suffix(n: int, n_declared: int) -> str:
    """`(n=k/K)` when fewer seeds than declared are present, else nothing."""
    return f" (n={n}/{n_declared})" if n < n_declared else ""


def format_cell(kind: str, point: float | None, a: float | None, b: float | None,
                n: int, n_declared: int, decimals: int) -> str:
    """Text of one cell.

    kind "mean_std": `point ± a`; "iqm_ci": `point [a, b]`; "median_iqr": `point (a–b)`.
    A cell with no finished run shows the missing mark only.
    """
    if n == 0 or point is None or (isinstance(point, float) and math.isnan(point)):
        return MISSING
    p = fmt_number(point, decimals)
    if kind == "mean_std":
        body = f"{p} {PLUS_MINUS} {fmt_number(a, decimals)}" if n > 1 else p
    elif kind == "iqm_ci":
        body = f"{p} [{fmt_number(a, decimals)}, {fmt_number(b, decimals)}]"
    elif kind == "median_iqr":
        body = f"{p} ({fmt_number(a, decimals)}{EN_DASH}{fmt_number(b, decimals)})"
    else:
        raise ValueError(f"cell kind {kind!r} is not one of mean_std, iqm_ci, median_iqr")
    return body + seeds_suffix(n, n_declared)


def format_pvalue(p: float | None) -> str:
    """p-values with three decimals, `<0.001` below that, missing mark when not computed."""
    if p is None or math.isnan(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# --- escaping ---------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_LATEX_SYMBOLS = {
    PLUS_MINUS: r"$\pm$", SIG_MARK: r"$^{\dagger}$", EN_DASH: "--", MISSING: "---",
    "≥": r"$\geq$", "≤": r"$\leq$", "−": "-", "×": r"$\times$", "τ": r"$\tau$", "α": r"$\alpha$",
}


def latex_escape(text: object) -> str:
    """Escape LaTeX specials and map the few Unicode symbols our cells use to LaTeX commands."""
    out = []
    for ch in str(text):
        out.append(_LATEX_SPECIAL.get(ch) or _LATEX_SYMBOLS.get(ch) or ch)
    return "".join(out)


def markdown_escape(text: object) -> str:
    """Escape characters that would break a Markdown table cell."""
    return str(text).replace("|", r"\|").replace("\n", " ")


def html_escape(text: object) -> str:
    return html.escape(str(text), quote=True)
