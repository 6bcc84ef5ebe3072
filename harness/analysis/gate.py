"""The regression gate's test on one (baseline, candidate) pair of per-seed values.

A candidate can be worse in two ways, and the gate tests both, one-sided:

* **shift**: its mean is lower. Welch's t (or Mann–Whitney U) of "candidate < baseline − τ".
* **collapse**: some seeds fail outright while the rest are unchanged (e.g. 2 of 5 seeds drop from
  1.0 to 0.0). No rank or mean test over 5 + 5 seeds can see that (the exact permutation p-value of
  two zeros among ten values is 10/45), so each candidate seed is also tested against the one-sided
  normal prediction bound of the baseline, x̄_b − τ − t_{n_b−1} s_b sqrt(1 + 1/n_b), with Bonferroni
  over the candidate's seeds.

The pair's p-value is the weighted Bonferroni combination min(1, p_shift / w, p_collapse / (1 − w)),
so the two tests together keep the pair's false-alarm rate at alpha.

**Resolution.** A win rate measured on n episodes moves in steps of 1/n. The tolerance τ is at least
one step, so a change within the measurement's resolution is never a regression, and each sample's
variance is at least the binomial measurement variance mean_i p_i(1 − p_i)/n (p_i clipped to
[1/2n, 1 − 1/2n]): seeds that all won every episode still carry measurement noise, so a constant
sample does not make the test statistic infinite.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

Test = Literal["welch", "mannwhitney"]
SHIFT_WEIGHT = 0.8        # share of alpha spent on the mean shift; the rest goes to the collapse test


@dataclass(frozen=True)
class PairTest:
    """One pair's one-sided p-values: mean shift, seed collapse, and their combination."""

    tolerance: float      # τ actually applied: max(declared tolerance, resolution)
    p_shift: float
    p_collapse: float
    pvalue: float         # min(1, p_shift / w, p_collapse / (1 − w))


def effective_tolerance(tolerance: float, resolution: float | None) -> float:
    """τ = max(tolerance, resolution): a drop smaller than one measurement step is not tested."""
    return max(float(tolerance), float(resolution or 0.0))


def measurement_variance(values: np.ndarray, resolution: float | None) -> float:
    """Binomial variance of a proportion measured on n = 1/resolution episodes, averaged over seeds;
    0 for a metric without a resolution (returns, AUC)."""
    if not resolution:
        return 0.0
    n = 1.0 / resolution
    p = np.clip(np.asarray(values, dtype=float), 0.5 / n, 1.0 - 0.5 / n)
    return float(np.mean(p * (1.0 - p) / n))


def floored_std(values: np.ndarray, resolution: float | None) -> float:
    """Sample std (ddof=1), at least the measurement noise's std."""
    values = np.asarray(values, dtype=float)
    return math.sqrt(max(float(np.var(values, ddof=1)), measurement_variance(values, resolution)))


def shift_pvalue(baseline: np.ndarray, candidate: np.ndarray, test: Test, tau: float,
                 resolution: float | None) -> float:
    """p of "candidate < baseline − τ": Welch's t from the (floored) summary statistics, or
    Mann–Whitney U on the values. With both stds 0 (no resolution, constant samples) the limit of the
    statistic: 0 when the candidate lies below, 1 otherwise."""
    shifted = np.asarray(baseline, dtype=float) - tau
    candidate = np.asarray(candidate, dtype=float)
    if test == "mannwhitney":
        return float(sps.mannwhitneyu(candidate, shifted, alternative="less").pvalue)
    sd_c, sd_b = floored_std(candidate, resolution), floored_std(baseline, resolution)
    if sd_c == 0 and sd_b == 0:
        return 0.0 if candidate.mean() < shifted.mean() else 1.0
    return float(sps.ttest_ind_from_stats(candidate.mean(), sd_c, candidate.size, shifted.mean(), sd_b,
                                          shifted.size, equal_var=False, alternative="less").pvalue)


def collapse_pvalue(baseline: np.ndarray, candidate: np.ndarray, tau: float, resolution: float | None) -> float:
    """p of "some candidate seed lies below what the baseline predicts": for each seed y_j,
    T_{n_b−1}((y_j − (x̄_b − τ)) / (s_b sqrt(1 + 1/n_b))), the smallest times the candidate's seed count."""
    baseline = np.asarray(baseline, dtype=float)
    candidate = np.asarray(candidate, dtype=float)
    center = baseline.mean() - tau
    sd = floored_std(baseline, resolution)
    if sd == 0:
        lowest = 0.0 if candidate.min() < center else 1.0
    else:
        t = (candidate.min() - center) / (sd * math.sqrt(1.0 + 1.0 / baseline.size))
        lowest = float(sps.t.cdf(t, baseline.size - 1))
    return min(1.0, candidate.size * lowest)


def pair_test(baseline, candidate, test: Test = "welch", tolerance: float = 0.0,
              resolution: float | None = None) -> PairTest:
    """Both one-sided tests of one pair (at least 2 values on each side) and their combination."""
    baseline = np.asarray(baseline, dtype=float).ravel()
    candidate = np.asarray(candidate, dtype=float).ravel()
    if baseline.size < 2 or candidate.size < 2:
        raise ValueError(f"the gate needs at least 2 seeds on each side (got {baseline.size} baseline, "
                         f"{candidate.size} candidate)")
    if test not in ("welch", "mannwhitney"):
        raise ValueError(f"test must be 'welch' or 'mannwhitney', got {test!r}")
    tau = effective_tolerance(tolerance, resolution)
    with warnings.catch_warnings():    # scipy warns on nearly constant samples; p is still right
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        p_shift = shift_pvalue(baseline, candidate, test, tau, resolution)
    p_collapse = collapse_pvalue(baseline, candidate, tau, resolution)
    combined = min(1.0, p_shift / SHIFT_WEIGHT, p_collapse / (1.0 - SHIFT_WEIGHT))
    return PairTest(tolerance=tau, p_shift=p_shift, p_collapse=p_collapse, pvalue=combined)


@dataclass(frozen=True)
class SpeedTest:
    """One pair's throughput comparison: the ratio of geometric means and the one-sided p-value."""

    ratio: float          # candidate / baseline, geometric means over seeds
    pvalue: float         # one-sided: candidate slower than (1 − tolerance) × baseline


def speed_test(baseline, candidate, tolerance: float = 0.1) -> SpeedTest:
    """Welch's t on log throughput, H1: mean log(candidate) < mean log(baseline) + log(1 − tolerance);
    throughput is multiplicative (a 10 % slowdown is the same on a fast and a slow machine), so it
    is tested on the log scale. Both samples constant: the statistic's limit (0 or 1)."""
    base = np.log(np.asarray(baseline, dtype=float).ravel())
    cand = np.log(np.asarray(candidate, dtype=float).ravel())
    if base.size < 2 or cand.size < 2 or not (np.isfinite(base).all() and np.isfinite(cand).all()):
        raise ValueError("the speed gate needs at least 2 positive throughputs on each side")
    if not 0 <= tolerance < 1:
        raise ValueError(f"speed tolerance must lie in [0, 1), got {tolerance}")
    shifted = base + math.log(1.0 - tolerance)
    ratio = float(math.exp(cand.mean() - base.mean()))
    if np.ptp(cand) == 0 and np.ptp(base) == 0:
        return SpeedTest(ratio, 0.0 if cand.mean() < shifted.mean() else 1.0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        p = float(sps.ttest_ind(cand, shifted, equal_var=False, alternative="less").pvalue)
    return SpeedTest(ratio, p)
