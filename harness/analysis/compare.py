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


EXACT_SPLITS = 50_000     # a one-task permutation test enumerates every split up to this many


def permutation_test(x, y, statistic, n_resamples: int = 9_999, seed: int = 0) -> TestResult:
    """Two-sided permutation test of statistic(x) − statistic(y), runs exchanged within each task.

    x is `[n_x, M]`, y `[n_y, M]` (runs × tasks; a 1-D sample is one task); `statistic` reduces the
    last two axes of a batch `[..., n, M]` (e.g. `stats.iqm`, `stats.median`), so the test is on the
    number a table cell shows. Under H0 the runs of both samples on a task are exchangeable, so
    each task's labels are permuted independently. With one task and at most `EXACT_SPLITS` splits
    every split is enumerated (exact); otherwise `n_resamples` random permutations are drawn from
    `seed` and p counts the observed one, (b + 1)/(R + 1). The two-sided p is twice the smaller
    one-sided p, capped at 1, with a relative tolerance of 100 ulp on ties, as
    scipy.stats.permutation_test computes it.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    x, y = (a.reshape(-1, 1) if a.ndim == 1 else a for a in (x, y))
    if x.shape[1] != y.shape[1] or x.shape[0] < 1 or y.shape[0] < 1:
        raise ValueError(f"permutation test needs [runs, tasks] samples over the same tasks, got {x.shape} and {y.shape}")
    n_x, n = x.shape[0], x.shape[0] + y.shape[0]
    pooled = np.concatenate([x, y])                                    # [n, M]
    observed = float(statistic(x) - statistic(y))
    exact = pooled.shape[1] == 1 and math.comb(n, n_x) <= EXACT_SPLITS
    if exact:
        from itertools import combinations
        first = np.array(list(combinations(range(n), n_x)))           # [S, n_x]
        mask = np.zeros((len(first), n), dtype=bool)
        np.put_along_axis(mask, first, True, axis=1)
        order = np.argsort(~mask, axis=1, kind="stable")[:, :, None]   # [S, n, 1]: x's runs first
    else:
        rng = np.random.default_rng(seed)
        order = np.argsort(rng.random((n_resamples,) + pooled.shape), axis=1)   # [R, n, M]
    shuffled = np.take_along_axis(pooled[None], order, axis=1)         # [S or R, n, M]
    null = statistic(shuffled[:, :n_x]) - statistic(shuffled[:, n_x:])
    gamma = abs(observed) * np.finfo(float).eps * 100
    less, greater = np.count_nonzero(null <= observed + gamma), np.count_nonzero(null >= observed - gamma)
    if exact:
        p_less, p_greater = less / len(null), greater / len(null)
    else:
        p_less, p_greater = (less + 1) / (n_resamples + 1), (greater + 1) / (n_resamples + 1)
    return TestResult(observed, float(min(1.0, 2 * min(p_less, p_greater))))


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

DIFFERENT, EQUIVALENT, INCONCLUSIVE = "different", "equivalent", "inconclusive"


class ReferenceTest(NamedTuple):
    """A reproduction against a published mean ± std: the difference, its CI, and two verdicts' tests."""

    difference: float       # ours − published
    ci_low: float           # (1 − alpha) Welch confidence interval of the difference
    ci_high: float
    p_difference: float     # two-sided Welch test of "difference = 0"
    p_equivalence: float    # TOST of "|difference| ≥ margin" (NaN without a margin)
    margin: float           # NaN when no equivalence margin is declared
    verdict: str            # different | equivalent | inconclusive


def _welch_from_stats(m1: float, s1: float, n1: int, m2: float, s2: float, n2: int) -> tuple[float, float]:
    """Standard error of m1 − m2 and Welch–Satterthwaite degrees of freedom from summary statistics."""
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1)) if se > 0 else math.inf
    return se, df


def compare_with_reference(values, ref_mean: float, ref_std: float, ref_n: int, alpha: float = 0.05,
                           margin: float | None = None) -> ReferenceTest:
    """Our per-seed values against a published mean ± std (sample std) over ref_n seeds.

    Welch's test on summary statistics: the (1 − alpha) confidence interval of the difference
    d = x̄ − μ_ref, d ± t_{1−alpha/2, ν} · se, and the two-sided p of d = 0 (equals
    scipy.stats.ttest_ind_from_stats, equal_var=False). With a margin δ, the two one-sided tests
    (TOST) of H0: d ≤ −δ and H0: d ≥ δ, p = max(P(T ≥ (d + δ)/se), P(T ≤ (d − δ)/se)) (equals
    statsmodels' ttost_ind with usevar="unequal" on the same summaries). Verdict: "different" when
    d = 0 is rejected, "equivalent" when the TOST rejects (|d| < δ shown), else "inconclusive": a
    non-significant difference alone is not evidence of agreement.
    """
    x = _sample(values, "values")
    if x.size < 2 or ref_n < 2:
        raise ValueError(f"need at least 2 seeds on both sides (got {x.size} and ref_n={ref_n})")
    if margin is not None and not margin > 0:
        raise ValueError(f"equivalence margin must be > 0, got {margin}")
    mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
    d = mean - ref_mean
    se, df = _welch_from_stats(mean, sd, x.size, ref_mean, ref_std, ref_n)
    if se == 0:   # both samples constant: the limit of the statistics
        p_diff = 1.0 if d == 0 else 0.0
        lo = hi = d
        p_eq = math.nan if margin is None else (0.0 if abs(d) < margin else 1.0)
    else:
        t_crit = float(sps.t.ppf(1 - alpha / 2, df))
        lo, hi = d - t_crit * se, d + t_crit * se
        p_diff = float(2 * sps.t.sf(abs(d) / se, df))
        p_eq = math.nan if margin is None else \
            float(max(sps.t.sf((d + margin) / se, df), sps.t.cdf((d - margin) / se, df)))
    verdict = DIFFERENT if p_diff < alpha else EQUIVALENT if p_eq < alpha else INCONCLUSIVE
    return ReferenceTest(difference=d, ci_low=lo, ci_high=hi, p_difference=p_diff, p_equivalence=p_eq,
                         margin=math.nan if margin is None else float(margin), verdict=verdict)
