"""Report tables: cell text, best-in-column, Holm-corrected marks, missing cells, failures, paper
numbers and the four output formats, on hand-built per-run metrics."""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.analysis import stats
from harness.reports import render
from harness.reports.provenance import Provenance
from harness.reports.references import ReferenceTable, eval_group_matches, normalise_name
from harness.reports.tables import TableModel, build_table
from harness.suite.models import ReportTable, Suite

PROVENANCE = Provenance.from_dict({"suite_hash": "f00d", "git": {"commit": "abc123", "dirty": False},
                                   "versions": {"python": "3.11", "torch": "2.3"}, "device": "cpu"})
METHODS = ["final_win_rate: mean of the last k evaluations."]


def make_suite(algorithms=("qmix", "vdn", "iql"), scenarios=("3m",), seeds=5, reports=None) -> Suite:
    return Suite(name="unit", seeds=seeds, budget={"env_steps": 1000}, evaluation={"interval": 100},
                 algorithms=list(algorithms), scenarios=list(scenarios), reports=reports or [])


def per_run(values: dict[tuple, list[float]], metric: str = "final_win_rate",
            status: dict[tuple, str] | None = None) -> pd.DataFrame:
    """Per-run metrics: `values[(algorithm, scenario, eval_set)]` lists one value per seed 0..n-1."""
    rows = []
    for (alg, scen, ev), vals in values.items():
        for seed, v in enumerate(vals):
            st = (status or {}).get((alg, scen, ev, seed), "done")
            rows.append({"suite": "unit", "algorithm": alg, "scenario": scen, "eval_set": ev,
                         "composition": "all", "seed": seed, "run_id": f"{alg}-{scen}-{seed}",
                         "status": st, "metric": metric, "value": v})
    return pd.DataFrame(rows)


def table(values, suite=None, runs=None, **spec) -> TableModel:
    spec = {"table": "t", **spec}
    suite = suite or make_suite()
    return build_table(per_run(values) if isinstance(values, dict) else values, runs, ReportTable(**spec),
                       suite, reps=2_000)


def texts(model) -> dict[str, str]:
    return {r[0]: model.cell(r, model.column_keys[0]).text for r in model.row_keys}


def test_mean_std_cell_uses_sample_std():
    vals = [0.5, 0.6, 0.7, 0.4, 0.3]
    model = table({("qmix", "3m", "train"): vals}, suite=make_suite(algorithms=["qmix"]))
    cell = model.cell(("qmix",), ("3m",))
    assert cell.point == pytest.approx(np.mean(vals))
    assert cell.a == pytest.approx(np.std(vals, ddof=1))
    assert cell.text == f"0.50 ± {np.std(vals, ddof=1):.2f}"


def test_best_is_bold_and_ties_on_displayed_value_are_all_bold():
    model = table({("qmix", "3m", "train"): [0.801, 0.802, 0.803, 0.804, 0.805],   # shows 0.80
                   ("vdn", "3m", "train"): [0.800, 0.799, 0.801, 0.802, 0.798],    # shows 0.80
                   ("iql", "3m", "train"): [0.70, 0.71, 0.72, 0.69, 0.70]})
    bold = {r[0]: model.cell(r, ("3m",)).bold for r in model.row_keys}
    assert bold == {"qmix": True, "vdn": True, "iql": False}
    md = render.table_markdown(model)
    assert "**0.80 ± 0.00**" in md and md.count("**") == 4


def test_significance_marks_match_hand_computed_holm():
    best = [0.80, 0.82, 0.84, 0.86, 0.88]
    values = {("qmix", "3m", "train"): best, ("qmix", "8m", "train"): best,
              ("vdn", "3m", "train"): [0.20, 0.22, 0.25, 0.21, 0.23],     # far below: significant
              ("vdn", "8m", "train"): [0.76, 0.79, 0.80, 0.83, 0.78],     # p < .05 raw, not after Holm
              ("iql", "3m", "train"): [0.60, 0.61, 0.64, 0.63, 0.62],
              ("iql", "8m", "train"): [0.78, 0.86, 0.80, 0.88, 0.79]}    # close to best: not significant
    model = table(values, suite=make_suite(scenarios=("3m", "8m")), columns="scenario")
    # by hand: two-sided Welch p-values of every pair of rows in each column, Holm step-down over all
    # six; a cell is marked when its pair with the column's best (qmix) is rejected
    rows = ("qmix", "vdn", "iql")
    pairs = [(a, b, s) for s in ("3m", "8m") for i, a in enumerate(rows) for b in rows[i + 1:]]
    p = {k: sps.ttest_ind(values[(k[0], k[2], "train")], values[(k[1], k[2], "train")], equal_var=False).pvalue
         for k in pairs}
    assert p[("qmix", "vdn", "8m")] < 0.05                       # the case Holm must not mark
    order = sorted(pairs, key=p.get)
    rejected = set()
    for i, k in enumerate(order):
        if p[k] > 0.05 / (len(order) - i):
            break
        rejected.add(k)
    marked = {(b, s) for a, b, s in rejected if a == "qmix"}
    got = {(r[0], c[0]) for r in model.row_keys for c in model.column_keys
           if model.cell(r, c).significant}
    assert got == marked == {("vdn", "3m"), ("iql", "3m")}
    assert model.cell(("vdn",), ("3m",)).text.endswith("†")
    assert "†" not in model.cell(("vdn",), ("8m",)).text
    assert model.cell(("vdn",), ("8m",)).pvalue == pytest.approx(p[("qmix", "vdn", "8m")])
    assert "every pair of cells in a column is tested, Holm-corrected over all pairs" in model.caption


def test_marks_test_against_a_declared_baseline_row():
    values = {("qmix", "3m", "train"): [0.50, 0.52, 0.55, 0.51, 0.53],
              ("vdn", "3m", "train"): [0.80, 0.82, 0.84, 0.86, 0.88],      # best, far above qmix
              ("iql", "3m", "train"): [0.49, 0.53, 0.52, 0.54, 0.50]}      # like qmix
    model = table(values, compare_to="qmix")
    p = {a: sps.ttest_ind(values[("qmix", "3m", "train")], values[(a, "3m", "train")], equal_var=False).pvalue
         for a in ("vdn", "iql")}
    assert model.cell(("vdn",), ("3m",)).significant and not model.cell(("iql",), ("3m",)).significant
    assert model.cell(("vdn",), ("3m",)).p_adjusted == pytest.approx(min(1.0, 2 * min(p.values())))
    assert not model.cell(("qmix",), ("3m",)).significant and "differs from row qmix" in model.caption
    with pytest.raises(ValueError, match="compare_to 'maddpg' is not one of its rows"):
        table(values, compare_to="maddpg")


def test_iqm_cells_are_tested_on_the_iqm_by_permutation():
    """An IQM cell's mark tests the IQM it shows (the old marks tested per-seed means by Welch)."""
    a = [0.9, 0.85, 0.88, 0.1, 0.92, 0.87, 0.89, 0.86]
    b = [0.5, 0.55, 0.52, 0.95, 0.48, 0.51, 0.53, 0.49]
    model = table({("qmix", "3m", "train"): a, ("vdn", "3m", "train"): b},
                  suite=make_suite(algorithms=["qmix", "vdn"], seeds=8), cell="iqm_ci")
    expected = sps.permutation_test((np.array(a), np.array(b)),
                                    lambda x, y, axis: sps.trim_mean(x, 0.25, axis=axis) - sps.trim_mean(y, 0.25, axis=axis),
                                    permutation_type="independent", n_resamples=np.inf, vectorized=True).pvalue
    assert model.cell(("vdn",), ("3m",)).pvalue == pytest.approx(expected)
    welch = sps.ttest_ind(a, b, equal_var=False).pvalue
    assert welch > 0.05 and expected < 0.05 and model.cell(("vdn",), ("3m",)).significant
    assert "permutation test of the difference in the cell's interquartile mean" in model.caption


def test_mannwhitney_table_test_is_used_when_declared():
    values = {("qmix", "3m", "train"): [0.9] * 5, ("vdn", "3m", "train"): [0.1, 0.2, 0.3, 0.2, 0.1]}
    model = table(values, suite=make_suite(algorithms=["qmix", "vdn"]), test="mannwhitney")
    expected = sps.mannwhitneyu([0.9] * 5, [0.1, 0.2, 0.3, 0.2, 0.1], alternative="two-sided").pvalue
    assert model.cell(("vdn",), ("3m",)).pvalue == pytest.approx(expected)


def test_missing_cells_show_dash_and_partial_cells_show_seed_count():
    model = table({("qmix", "3m", "train"): [0.5, 0.6, 0.7, 0.4, 0.3],
                   ("vdn", "3m", "train"): [0.52, 0.62]})        # iql: no finished run
    t = texts(model)
    assert t["iql"] == "—"
    assert t["vdn"].endswith("(n=2/5)") and t["vdn"].startswith("0.57 ± 0.07")
    assert "(n=" not in t["qmix"]
    assert "| iql | — |" in render.table_markdown(model)


def test_running_runs_are_not_counted_as_finished():
    values = per_run({("qmix", "3m", "train"): [0.5, 0.6, 0.7, 0.4, 0.3]},
                     status={("qmix", "3m", "train", 4): "running"})
    model = table(values, suite=make_suite(algorithms=["qmix"]))
    assert model.cell(("qmix",), ("3m",)).n == 4
    assert model.unfinished == 1 and "still running or pending" in render.table_markdown(model)


def test_failed_runs_are_listed_below_the_table_and_never_averaged():
    values = per_run({("qmix", "3m", "train"): [0.5, 0.6, 0.7, 0.4, 0.0]},
                     status={("qmix", "3m", "train", 4): "failed"})
    runs = pd.DataFrame([{"run_id": "qmix-3m-4", "algorithm": "qmix", "scenario": "3m", "seed": 4,
                          "status": "failed", "reason": "NaN in TD loss at step 420"}])
    model = table(values, suite=make_suite(algorithms=["qmix"]), runs=runs)
    cell = model.cell(("qmix",), ("3m",))
    assert cell.n == 4 and cell.point == pytest.approx(0.55)
    md = render.table_markdown(model)
    assert md.index("Failed runs") > md.index("| qmix |")
    assert "qmix on 3m, seed 4 (run qmix-3m-4): NaN in TD loss at step 420" in md


def test_iqm_cell_shows_bootstrap_ci_from_analysis_stats():
    vals = [0.1, 0.5, 0.55, 0.6, 0.9]
    model = table({("qmix", "3m", "train"): vals}, suite=make_suite(algorithms=["qmix"]), cell="iqm_ci")
    cell = model.cell(("qmix",), ("3m",))
    point, lo, hi = stats.stratified_bootstrap_ci({"0": np.array(vals)[:, None]}, stats.iqm, reps=2_000,
                                                  seed=0)["0"]
    assert (cell.point, cell.a, cell.b) == pytest.approx((float(point), float(lo), float(hi)))
    assert cell.text == f"{point:.2f} [{lo:.2f}, {hi:.2f}]"


def test_median_iqr_cell_text():
    model = table({("qmix", "3m", "train"): [0.1, 0.2, 0.3, 0.4, 0.5]}, suite=make_suite(algorithms=["qmix"]),
                  cell="median_iqr")
    assert model.cell(("qmix",), ("3m",)).text == "0.30 (0.20–0.40)"


def test_columns_split_by_scenario_and_eval_set_follow_the_suite():
    suite = Suite(name="unit", seeds=2, budget={"env_steps": 1000}, evaluation={"interval": 100},
                  algorithms=["qmix"], scenarios=[{"name": "SZ", "eval": {"6": {"agents": 6}}}, "MMM"])
    model = table({("qmix", "SZ", "train"): [0.5, 0.6], ("qmix", "SZ", "6"): [0.3, 0.4],
                   ("qmix", "MMM", "train"): [0.7, 0.8]}, suite=suite, columns=["scenario", "eval_set"])
    assert model.column_keys == [("SZ", "train"), ("SZ", "6"), ("MMM", "train")]
    assert model.cell(("qmix",), ("SZ", "6")).text == "0.35 ± 0.07"


def test_reference_columns_give_deviation_and_consistency():
    # OPT Table 1 final test win rate on 10m_vs_11m: QMIX 0.62 ± 0.18, VDN 0.64 ± 0.13 (5 seeds)
    published = ReferenceTable.load("OPT", "1", "test_win_rate")
    qmix_ref, vdn_ref = published.find("qmix", "10m_vs_11m", "train"), published.find("vdn", "10m_vs_11m", "train")
    near = list(qmix_ref.mean + np.array([-0.1, -0.05, 0.0, 0.05, 0.1]))
    far = [0.0, 0.01, 0.0, 0.02, 0.01]
    model = table({("qmix", "10m_vs_11m", "train"): near, ("vdn", "10m_vs_11m", "train"): far},
                  suite=make_suite(algorithms=["qmix", "vdn"], scenarios=["10m_vs_11m"]),
                  reference={"paper": "OPT", "table": "1"})
    refs = {r.algorithm: r for r in model.references}
    assert refs["qmix"].paper_mean == qmix_ref.mean and refs["qmix"].paper_std == qmix_ref.std
    assert refs["qmix"].deviation == pytest.approx(np.mean(near) - qmix_ref.mean)
    assert refs["qmix"].verdict == "inconclusive"         # 5 seeds ± 0.08 cannot show |d| < 0.1
    assert refs["qmix"].margin == 0.1 and refs["qmix"].ci_low < refs["qmix"].deviation < refs["qmix"].ci_high
    expected_p = sps.ttest_ind_from_stats(np.mean(far), np.std(far, ddof=1), 5, vdn_ref.mean, vdn_ref.std,
                                          vdn_ref.seeds, equal_var=False).pvalue
    assert refs["vdn"].p_difference == pytest.approx(expected_p) and refs["vdn"].verdict == "different"
    md = render.table_markdown(model)
    assert "Published numbers: OPT Table 1 (test_win_rate)" in md and "TOST" in md
    assert f"| vdn | 10m_vs_11m | train | 0.01 ± 0.01 (n=5) | {vdn_ref.mean:.2f} ± {vdn_ref.std:.2f} (n=5) | " \
           f"{np.mean(far) - vdn_ref.mean:+.2f} |" in md
    frame = pd.read_csv(io.StringIO(render.table_csv(model, METHODS, PROVENANCE)), comment="#")
    assert set(frame["verdict"]) == {"inconclusive", "different"}
    assert frame.loc[frame["algorithm"] == "qmix", "paper_mean"].item() == qmix_ref.mean


def test_a_reference_can_name_the_papers_row_for_one_of_our_algorithms():
    """OPT's Table 2 calls attention QMIX "QMIX": `reference.algorithms` maps our name to that row."""
    published = ReferenceTable.load("OPT", "2", "test_win_rate")
    qmix_row = published.find("qmix", "3-8sz", "train")
    suite = make_suite(algorithms=["attn_qmix"], scenarios=["3-8sz"])
    vals = [0.2, 0.3, 0.25]
    plain = table({("attn_qmix", "3-8sz", "train"): vals}, suite=suite, reference={"paper": "OPT", "table": "2"})
    assert plain.references == []
    named = table({("attn_qmix", "3-8sz", "train"): vals}, suite=suite,
                  reference={"paper": "OPT", "table": "2", "algorithms": {"attn_qmix": "QMIX"}})
    assert [(r.algorithm, r.paper_mean) for r in named.references] == [("attn_qmix", qmix_row.mean)]


def test_paper_names_match_our_registry_names():
    assert normalise_name("OW-QMIX") == normalise_name("ow_qmix")
    assert normalise_name("REFIL(VDN)") == normalise_name("refil_vdn")
    assert normalise_name("alpha=0.05") != normalise_name("alpha=0.5")
    assert eval_group_matches("train 3-5", "train") and eval_group_matches("6", "6")
    assert eval_group_matches("", "train") and not eval_group_matches("", "6")
    mipi = ReferenceTable.load("MIPI", "1", "test_win_rate")
    assert mipi.find("mipi", "sz", "train").mean == pytest.approx(0.659)


def test_unknown_reference_names_what_exists():
    with pytest.raises(ValueError, match="available paper/table/metric: .*MIPI/1/test_win_rate"):
        ReferenceTable.load("MIPI", "9", "test_win_rate")


def _sample_model():
    return table({("qmix", "3m_vs_4m", "train"): [0.5, 0.6, 0.7, 0.4, 0.3],
                  ("vdn", "3m_vs_4m", "train"): [0.1, 0.1, 0.2, 0.15, 0.12]},
                 suite=make_suite(algorithms=["qmix", "vdn", "iql"], scenarios=["3m_vs_4m"]))


def test_latex_uses_booktabs_and_escapes_underscores():
    tex = render.table_latex(_sample_model(), METHODS, PROVENANCE)
    body = [line for line in tex.splitlines() if not line.startswith("%")]
    text = "\n".join(body)
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert text.count(rule) == 1
    assert r"3m\_vs\_4m" in text and r"final\_win\_rate" in text
    assert not re.search(r"(?<!\\)_", text.replace(r"\_", ""))                  # no bare underscore
    assert text.count("{") == text.count("}")
    assert r"\textbf{0.50 $\pm$ 0.16}" in text and r"$^{\dagger}$" in text
    assert "±" not in text and "—" not in text
    cols = len(re.search(r"\\begin\{tabular\}\{(\w+)\}", text).group(1))
    rows = [line for line in body if line.endswith(r"\\") and "multicolumn" not in line]
    assert rows and all(line.count("&") == cols - 1 for line in rows)
    assert "% git.commit: abc123" in tex and "% suite_hash: f00d" in tex


def test_csv_parses_back_with_comment_header():
    text = render.table_csv(_sample_model(), METHODS, PROVENANCE)
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("provenance: git.dirty: False" in line for line in header)
    assert any(line.startswith("# caption:") for line in header)
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert list(frame["algorithm"]) == ["qmix", "vdn", "iql"]
    assert frame.loc[0, "value"] == pytest.approx(0.5) and frame.loc[0, "std"] == pytest.approx(0.158, abs=1e-3)
    assert frame.loc[2, "n"] == 0 and frame.loc[2, "cell"] == "—" and bool(frame.loc[0, "bold"])


def test_html_has_a_table_and_a_provenance_section():
    html = render.document_html([_sample_model()], METHODS, PROVENANCE)
    assert "<table>" in html and "<th>3m_vs_4m</th>" in html and "<b>0.50 ± 0.16</b>" in html
    assert '<section id="provenance">' in html and "<dt>git.commit</dt>" in html
    assert '<section id="methods">' in html


def test_unknown_metric_names_the_allowed_ones():
    with pytest.raises(ValueError, match="final_win_rate"):
        table({("qmix", "3m", "train"): [0.5]}, metric="final_win_rat")
