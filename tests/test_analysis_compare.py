"""Tests, corrections, effect sizes and power, checked against SciPy and statsmodels."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

from harness.analysis import compare

X = np.array([0.62, 0.71, 0.55, 0.80, 0.68])
Y = np.array([0.41, 0.52, 0.60, 0.38, 0.47, 0.50])


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_welch_t_equals_scipy_unequal_variance_t_test(alternative):
    ours = compare.welch_t(X, Y, alternative=alternative)
    ref = scipy.stats.ttest_ind(X, Y, equal_var=False, alternative=alternative)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    statistic, pvalue = ours  # unpacks like a tuple
    assert (statistic, pvalue) == (ours.statistic, ours.pvalue)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_mann_whitney_equals_scipy(alternative):
    ours = compare.mann_whitney(X, Y, alternative=alternative)
    ref = scipy.stats.mannwhitneyu(X, Y, alternative=alternative)
    assert (ours.statistic, ours.pvalue) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)


def test_unknown_alternative_is_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="two-sided, less, greater"):
        compare.welch_t(X, Y, alternative="bigger")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=12),
       st.sampled_from([0.01, 0.05, 0.1]))
def test_holm_equals_statsmodels(pvalues, alpha):
    reject, adjusted, _, _ = multipletests(pvalues, alpha=alpha, method="holm")
    np.testing.assert_allclose(compare.holm(pvalues), adjusted, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(compare.holm_reject(pvalues, alpha), reject)


def test_holm_leaves_nan_pvalues_out_of_the_family():
    adjusted = compare.holm([0.01, np.nan, 0.04])
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], [0.02, 0.04])
    np.testing.assert_array_equal(compare.holm_reject([0.01, np.nan, 0.04], 0.05), [True, False, True])


def test_holm_stops_at_the_first_pvalue_over_its_threshold():
    # thresholds 0.05/3, 0.05/2, 0.05: 0.01 passes, 0.03 fails, so 0.04 is not rejected either
    np.testing.assert_array_equal(compare.holm_reject([0.04, 0.01, 0.03], 0.05), [False, True, False])


def test_cohens_d_and_hedges_g_follow_their_formulas():
    nx, ny = X.size, Y.size
    pooled = math.sqrt(((nx - 1) * X.var(ddof=1) + (ny - 1) * Y.var(ddof=1)) / (nx + ny - 2))
    d = (X.mean() - Y.mean()) / pooled
    assert compare.cohens_d(X, Y) == pytest.approx(d, rel=1e-12)
    nu = nx + ny - 2
    j = math.gamma(nu / 2) / (math.sqrt(nu / 2) * math.gamma((nu - 1) / 2))
    assert compare.hedges_g(X, Y) == pytest.approx(j * d, rel=1e-12)
    assert j == pytest.approx(1 - 3 / (4 * nu - 1), abs=2e-3)
    assert compare.cohens_d(Y, X) == pytest.approx(-d)


@pytest.mark.parametrize("n", [2, 3, 5, 10, 30])
@pytest.mark.parametrize("effect", [0.0, 0.5, 1.0, 2.0])
def test_power_equals_statsmodels_ttestindpower(n, effect):
    ref = TTestIndPower().power(effect, nobs1=n, alpha=0.05, ratio=1.0, alternative="two-sided")
    assert compare.power_welch(n, effect, 0.05) == pytest.approx(ref, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n", [3, 5, 10, 20])
def test_min_detectable_effect_equals_statsmodels_solve_power(n):
    ref = TTestIndPower().solve_power(effect_size=None, nobs1=n, alpha=0.05, power=0.8, ratio=1.0)
    mde = compare.min_detectable_effect(n, 0.05, 0.8)
    assert mde == pytest.approx(ref, rel=1e-5)
    assert compare.power_welch(n, mde, 0.05) == pytest.approx(0.8, abs=1e-9)


def test_power_note_states_the_power_at_one_standard_deviation():
    note = compare.power_note(5, 0.05)
    assert "5 seeds" in note and "only 29%" in note and "2.02 standard deviations" in note
    assert "not tested" in compare.power_note(1)


def test_reference_difference_and_ci_equal_scipy_and_statsmodels_from_summary_statistics():
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW
    rng = np.random.default_rng(7)
    published = rng.normal(0.45, 0.1, 10)                     # stands in for the paper's seeds
    got = compare.compare_with_reference(X, published.mean(), published.std(ddof=1), 10, alpha=0.05)
    ref = scipy.stats.ttest_ind_from_stats(X.mean(), X.std(ddof=1), X.size, published.mean(),
                                           published.std(ddof=1), 10, equal_var=False)
    assert got.p_difference == pytest.approx(ref.pvalue, rel=1e-10)
    lo, hi = CompareMeans(DescrStatsW(X), DescrStatsW(published)).tconfint_diff(alpha=0.05, usevar="unequal")
    assert (got.ci_low, got.ci_high) == (pytest.approx(lo, rel=1e-10), pytest.approx(hi, rel=1e-10))
    assert got.difference == pytest.approx(X.mean() - published.mean())
    assert np.isnan(got.p_equivalence) and got.verdict in ("different", "inconclusive")


@pytest.mark.parametrize("shift, margin", [(0.0, 0.2), (0.05, 0.1), (0.3, 0.1), (-0.12, 0.15)])
def test_reference_equivalence_is_statsmodels_tost_with_unequal_variances(shift, margin):
    from statsmodels.stats.weightstats import ttost_ind
    rng = np.random.default_rng(11)
    ours, published = rng.normal(0.5 + shift, 0.08, 8), rng.normal(0.5, 0.1, 5)
    got = compare.compare_with_reference(ours, published.mean(), published.std(ddof=1), 5, margin=margin)
    p_tost, _, _ = ttost_ind(ours, published, -margin, margin, usevar="unequal")
    assert got.p_equivalence == pytest.approx(p_tost, rel=1e-9)


def test_a_non_significant_difference_is_inconclusive_not_consistent():
    """Five noisy seeds far below the paper but not significantly so: the old check called this
    "consistent"; neither a difference nor an equivalence is shown."""
    noisy = np.array([0.1, 0.9, 0.2, 0.8, 0.3])
    got = compare.compare_with_reference(noisy, 0.7, 0.2, 5, margin=0.1)
    assert got.p_difference >= 0.05 and got.p_equivalence >= 0.05 and got.verdict == "inconclusive"
    close = compare.compare_with_reference(np.array([0.70, 0.71, 0.69, 0.70, 0.72]), 0.70, 0.01, 10, margin=0.05)
    assert close.verdict == "equivalent"
    assert compare.compare_with_reference(np.zeros(5), 0.7, 0.05, 5, margin=0.1).verdict == "different"
    assert compare.compare_with_reference(np.ones(3), 1.0, 0.0, 5, margin=0.1).verdict == "equivalent"


def test_reference_check_needs_two_seeds_each_side():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        compare.compare_with_reference([0.5], 0.5, 0.1, 5)
