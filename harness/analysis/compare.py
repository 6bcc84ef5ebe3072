"""Comparisons between algorithms: hypothesis tests, multiple-testing correction, effect sizes, power.

Each function is a thin, documented wrapper around SciPy so that reports state exactly which test
was run; the tests pin them against SciPy and statsmodels.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

ALTERNATIVES = ("two-sided", "less", "greater")


class TestResult(NamedTuple):
    """A test statistic and its p-value; unpacks as `(statistic, pvalue)`."""

    statistic: float
    pvalue: float


def _sample(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} is empty: a comparison needs at least one value per sample")
    return arr


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative={alternative!r} is not one of {', '.join(ALTERNATIVES)}")


# --- tests --------------------------------------------------------------------------------------

def welch_t(x, y, alternative: str = "two-sided") -> TestResult:
    """Welch's t-test (unequal variances) of mean(x) against mean(y).

    t = (x̄ − ȳ) / sqrt(s_x²/n_x + s_y²/n_y) with Welch–Satterthwaite degrees of freedom;
    alternative "greater" tests mean(x) > mean(y). Same as scipy.stats.ttest_ind(equal_var=False).
    """
    _check_alternative(alternative)
    res = sps.ttest_ind(_sample(x, "x"), _sample(y, "y"), equal_var=False, alternative=alternative)
    return TestResult(float(res.statistic), float(res.pvalue))


def mann_whitney(x, y, alternative: str = "two-sided") -> TestResult:
    """Mann–Whitney U test; the statistic is U_x = Σ_ij [x_i > y_j] + ½ [x_i = y_j].

    Exact p-values for small samples without ties, normal approximation with tie and continuity
    correction otherwise (scipy.stats.mannwhitneyu, method="auto"). "greater" tests whether x tends
    to exceed y.
    """
    _check_alternative(alternative)
    res = sps.mannwhitneyu(_sample(x, "x"), _sample(y, "y"), alternative=alternative)
    return TestResult(float(res.statistic), float(res.pvalue))


def holm(pvalues) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values.

    With the m finite p-values sorted ascending, p̃_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j)),
    returned in the input order. NaN p-values are left out of the family and stay NaN.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    adjusted = np.full(p.shape, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    m = finite.size
    if m == 0:
        return adjusted
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = p[order] * np.arange(m, 0, -1)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def holm_reject(pvalues, alpha: float = 0.05) -> np.ndarray:
    """Holm's step-down rejections at family-wise error rate alpha.

    Sorted ascending, p_(1..i) are rejected while p_(j) ≤ alpha / (m − j + 1) for every j ≤ i; the
    first p-value over its threshold stops the procedure. NaN p-values are never rejected.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    reject = np.zeros(p.shape, dtype=bool)
    finite = np.flatnonzero(~np.isnan(p))
    m = finite.size
    order = finite[np.argsort(p[finite], kind="stable")]
    over = p[order] > alpha / np.arange(m, 0, -1)
    n_rejected = int(np.argmax(over)) if over.any() else m
    reject[order[:n_rejected]] = True
    return reject


# --- effect sizes -------------------------------------------------------------------------------

def pooled_std(x, y) -> float:
    """Pooled standard deviation sqrt(((n_x − 1)s_x² + (n_y − 1)s_y²) / (n_x + n_y − 2))."""
    x, y = _sample(x, "x"), _sample(y, "y")
    if x.size + y.size < 3:
        raise ValueError("pooled standard deviation needs n_x + n_y ≥ 3")
    ss = (x.size - 1) * np.var(x, ddof=1 if x.size > 1 else 0) + \
        (y.size - 1) * np.var(y, ddof=1 if y.size > 1 else 0)
    return float(np.sqrt(ss / (x.size + y.size - 2)))


def cohens_d(x, y) -> float:
    """Cohen's d = (x̄ − ȳ) / s_pooled (see `pooled_std`)."""
    x, y = _sample(x, "x"), _sample(y, "y")
    return float((np.mean(x) - np.mean(y)) / pooled_std(x, y))


def hedges_g(x, y) -> float:
    """Hedges' g = J(ν)·d, the small-sample unbiased Cohen's d, with ν = n_x + n_y − 2 and the exact
    correction J(ν) = Γ(ν/2) / (sqrt(ν/2) · Γ((ν − 1)/2)) (≈ 1 − 3 / (4ν − 1))."""
    x, y = _sample(x, "x"), _sample(y, "y")
    nu = x.size + y.size - 2
    if nu < 2:
        raise ValueError("Hedges' g needs n_x + n_y ≥ 4")
    j = math.exp(special.gammaln(nu / 2) - special.gammaln((nu - 1) / 2)) / math.sqrt(nu / 2)
    return j * cohens_d(x, y)


# --- power --------------------------------------------------------------------------------------

def power_welch(n: int, effect_size: float, alpha: float = 0.05) -> float:
    """Power of a two-sided two-sample t-test with n runs per group at standardised effect d.

    power = P(|T| > t_{1−α/2, ν}) where T follows a noncentral t with ν = 2n − 2 degrees of freedom
    and noncentrality d·sqrt(n/2) (equal variances, where Welch's test has the same power). Equals
    statsmodels' TTestIndPower().power(d, nobs1=n, alpha=alpha, ratio=1).
    """
    if n < 2:
        raise ValueError(f"n={n}: a two-sample t-test needs at least 2 runs per group")
    df = 2 * n - 2
    nc = effect_size * math.sqrt(n / 2)
    crit = sps.t.ppf(1 - alpha / 2, df)
    return float(sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc))


def min_detectable_effect(n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest standardised difference d (in pooled standard deviations) that the two-sided
    two-sample t-test with n runs per group detects with the given power (solves `power_welch`)."""
    if not alpha < power < 1:
        raise ValueError(f"power={power!r} must lie between alpha={alpha!r} and 1")
    power_welch(n, 0.0, alpha)  # validates n
    hi = 1.0
    while power_welch(n, hi, alpha) < power:
        hi *= 2
    return float(optimize.brentq(lambda d: power_welch(n, d, alpha) - power, 0.0, hi, xtol=1e-10))


def power_note(n_seeds: int, alpha: float = 0.05) -> str:
    """A sentence for reports stating what differences n_seeds seeds per algorithm can detect."""
    if n_seeds < 2:
        return (f"With {n_seeds} seed per algorithm no two-sample test is possible; differences "
                f"between algorithms are not tested.")
    p1 = power_welch(n_seeds, 1.0, alpha)
    mde = min_detectable_effect(n_seeds, alpha, 0.8)
    only = "only " if p1 < 0.8 else ""
    return (f"With {n_seeds} seeds per algorithm, a two-sided t-test at α = {alpha:g} detects a "
            f"difference of one standard deviation {only}{p1:.0%} of the time; 80% power needs a "
            f"difference of {mde:.2f} standard deviations.")


# --- reproduction against published numbers -----------------------------------------------------

def consistent_with_reference(values, ref_mean: float, ref_std: float, ref_n: int,
                              alpha: float = 0.05) -> tuple[float, bool]:
    """Welch test of a reproduction's per-seed values against a published mean ± std over ref_n seeds.

    The test uses summary statistics (scipy.stats.ttest_ind_from_stats, equal_var=False) with the
    reproduction's mean and sample std (ddof=1). Returns (p-value, consistent) where consistent
    means the difference is not significant at alpha (p ≥ alpha). When both standard deviations are
    zero, p is 1 if the means are equal and 0 otherwise.
    """
    x = _sample(values, "values")
    if x.size < 2 or ref_n < 2:
        raise ValueError(f"need at least 2 seeds on both sides (got {x.size} and ref_n={ref_n})")
    mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
    if sd == 0 and ref_std == 0:
        pvalue = 1.0 if mean == ref_mean else 0.0
    else:
        pvalue = float(sps.ttest_ind_from_stats(mean, sd, x.size, ref_mean, ref_std, ref_n,
                                                equal_var=False).pvalue)
    return pvalue, bool(pvalue >= alpha)
