"""The generalisation analysis: the set matrix's CIs (rliable-exact bootstrap), per-run gaps, Welch
tests between algorithms against scipy, Holm against statsmodels, and the composition breakdown."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from harness.analysis.generalisation import (composition_breakdown, generalisation_gaps, set_matrix, team_size,
                                             unit_mix)
from harness.analysis.stats import mean, stratified_bootstrap_ci
from harness.reports.generalisation import generalisation_section

RNG = np.random.default_rng(0)
SETS = {"train": ["3s2z_vs_3s2z", "2s1z_vs_2s1z"], "6": ["3s3z_vs_3s3z", "6s_vs_6s"], "7": ["4s3z_vs_4s3z"]}


def _per_run() -> pd.DataFrame:
    """Finals of 3 algorithms × 5 seeds on SZ: pooled ('all') and per composition."""
    rows = []
    for a, (level, drop) in {"mipi": (0.7, 0.1), "refil": (0.7, 0.3), "qmix": (0.5, 0.4)}.items():
        for seed in range(5):
            rid = f"{a}{seed}"
            for i, (eval_set, comps) in enumerate(SETS.items()):
                values = np.clip(level - drop * i + RNG.normal(0, 0.05, len(comps)), 0, 1)
                for comp, v in zip(comps, values):
                    rows.append(("s", a, "SZ", eval_set, comp, seed, rid, "done", "final_win_rate", v))
                rows.append(("s", a, "SZ", eval_set, "all", seed, rid, "done", "final_win_rate", values.mean()))
    rows.append(("s", "qmix", "SZ", "train", "all", 9, "failed9", "failed", "final_win_rate", np.nan))
    return pd.DataFrame(rows, columns=["suite", "algorithm", "scenario", "eval_set", "composition", "seed",
                                       "run_id", "status", "metric", "value"])


def _values(per_run, algorithm, eval_set):
    g = per_run[(per_run.algorithm == algorithm) & (per_run.eval_set == eval_set) & (per_run.composition == "all")
                & (per_run.status == "done")]
    return g.sort_values("seed").value.to_numpy()


def test_labels():
    assert team_size("3s2z_vs_3s2z") == 5 and team_size("1c3s5z_vs_1c3s6z") == 9 and team_size("AB") == 2
    assert unit_mix("3s2z_vs_4s2z") == "3s2z"


def test_set_matrix_is_the_mean_with_a_stratified_bootstrap_ci_of_finished_runs():
    per_run = _per_run()
    matrix = set_matrix(per_run, reps=2_000, seed=3)
    assert list(dict.fromkeys(matrix.eval_set)) == ["train", "6", "7"]
    row = matrix[(matrix.algorithm == "qmix") & (matrix.eval_set == "6")].iloc[0]
    values = _values(per_run, "qmix", "6")
    point, lo, hi = stratified_bootstrap_ci({"x": values.reshape(-1, 1)}, mean, reps=2_000, seed=3)["x"]
    assert row.n == 5 and row["mean"] == pytest.approx(values.mean()) == pytest.approx(float(point))
    assert (row.lo, row.hi) == (pytest.approx(float(lo)), pytest.approx(float(hi)))
    assert matrix[(matrix.algorithm == "qmix") & (matrix.eval_set == "train")].n.item() == 5   # the failed run is out


def test_gaps_are_per_run_and_their_tests_match_scipy_and_statsmodels():
    per_run = _per_run()
    analysis = generalisation_gaps(per_run, reps=2_000)
    gap = {a: _values(per_run, a, "train") - _values(per_run, a, "7") for a in ("mipi", "refil", "qmix")}
    row = analysis.gaps[(analysis.gaps.algorithm == "refil") & (analysis.gaps.eval_set == "7")].iloc[0]
    assert row.gap == pytest.approx(gap["refil"].mean())
    tests = analysis.tests
    assert len(tests) == 6                                   # 3 pairs × 2 sets
    raw = []
    for r in tests.itertuples():
        x = _values(per_run, r.a, "train") - _values(per_run, r.a, r.eval_set)
        y = _values(per_run, r.b, "train") - _values(per_run, r.b, r.eval_set)
        expected = stats.ttest_ind(x, y, equal_var=False).pvalue
        assert r.p == pytest.approx(expected)
        raw.append(expected)
    np.testing.assert_allclose(tests.p_holm, multipletests(raw, method="holm")[1])
    mipi_vs_qmix = tests[(tests.a == "mipi") & (tests.b == "qmix") & (tests.eval_set == "7")].iloc[0]
    assert mipi_vs_qmix.significant and mipi_vs_qmix.difference < 0


def test_breakdown_by_agents_and_mix():
    per_run = _per_run()
    b = composition_breakdown(per_run)
    six = b[(b.algorithm == "mipi") & (b.by == "agents") & (b.group == "6")].iloc[0]
    assert six.n_compositions == 2 and six.n == 5
    per_run_means = per_run[(per_run.algorithm == "mipi") & per_run.composition.isin(["3s3z_vs_3s3z", "6s_vs_6s"])
                            ].groupby("run_id").value.mean()
    assert six["mean"] == pytest.approx(per_run_means.mean())
    assert set(b[(b.algorithm == "mipi") & (b.by == "mix")].group) == {"3s2z", "2s1z", "3s3z", "6s", "4s3z"}


def test_the_section_is_written_only_with_evaluation_sets(tmp_path):
    text, paths = generalisation_section(_per_run(), tmp_path, reps=500)
    assert "### SZ" in text and "| algorithm | train | 6 | 7 |" in text and "p (Holm)" in text
    assert {p.name for p in paths} == {"generalisation_matrix.csv", "generalisation_gaps.csv",
                                       "generalisation_gap_tests.csv", "generalisation_compositions.csv"}
    train_only = _per_run()
    assert generalisation_section(train_only[train_only.eval_set == "train"], tmp_path, reps=500) == ("", [])


def test_the_section_lists_algorithms_in_the_suites_order_not_alphabetically(tmp_path):
    per_run = _per_run().sort_values(["algorithm", "seed"], kind="stable")   # as the tidy frame sorts it
    text, paths = generalisation_section(per_run, tmp_path, reps=200, order=["qmix", "mipi", "refil"])
    first_table = text.split("Training set × evaluation sets:")[1].split("\n\n")[1]
    assert [line.split(" | ")[0].strip("| ") for line in first_table.splitlines()[2:]] == ["qmix", "mipi", "refil"]
    matrix = pd.read_csv(tmp_path / "generalisation_matrix.csv")
    assert list(dict.fromkeys(matrix.algorithm)) == ["qmix", "mipi", "refil"]
