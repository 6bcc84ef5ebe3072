"""Stratified bootstrap CIs: ours against rliable 1.2.0, side by side in one process.

8 algorithms × 10 runs × 6 tasks, 4 aggregates (median, IQM, mean, optimality gap), 50 000
repetitions, seed 0. Not a timed assertion: the numbers must be identical, the speed is reported
(goal: ≥ 50× rliable). Run with
    pytest benchmarks/test_bootstrap_speed.py --benchmark-enable -m "not slow or slow"
The rliable side takes minutes, is marked slow, and is skipped where rliable is not installed.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from harness.analysis import stats

N_ALGORITHMS, N_RUNS, N_TASKS, REPS, SEED = 8, 10, 6, 50_000, 0
AGGREGATES = [stats.median, stats.iqm, stats.mean, stats.optimality_gap]
SCORES = {f"alg{i}": np.random.default_rng(i).beta(2, 2, size=(N_RUNS, N_TASKS))
          for i in range(N_ALGORITHMS)}


def ours():
    return stats.stratified_bootstrap_ci(SCORES, AGGREGATES, reps=REPS, seed=SEED)


def test_bootstrap_ci_ours(benchmark):
    benchmark.group = "bootstrap 8 algs x 10 runs x 6 tasks x 4 aggregates, 50k reps"
    result = benchmark.pedantic(ours, rounds=3, iterations=1)
    assert list(result) == list(SCORES)
    for point, lo, hi in result.values():
        assert np.all(lo <= point) and np.all(point <= hi)


@pytest.mark.slow
def test_bootstrap_ci_rliable_same_numbers(benchmark):
    library = pytest.importorskip("rliable.library")
    metrics = pytest.importorskip("rliable.metrics")

    def func(x):
        return np.array([metrics.aggregate_median(x), metrics.aggregate_iqm(x),
                         metrics.aggregate_mean(x), metrics.aggregate_optimality_gap(x)])

    def theirs():
        np.random.seed(SEED)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return library.get_interval_estimates(SCORES, func, reps=REPS)

    benchmark.group = "bootstrap 8 algs x 10 runs x 6 tasks x 4 aggregates, 50k reps"
    start = time.perf_counter()
    points, intervals = benchmark.pedantic(theirs, rounds=1, iterations=1)
    t_theirs = time.perf_counter() - start
    start = time.perf_counter()
    mine = ours()
    t_ours = time.perf_counter() - start
    benchmark.extra_info.update(rliable_s=t_theirs, ours_s=t_ours, speedup=t_theirs / t_ours)
    print(f"\nrliable {t_theirs:.2f} s, ours {t_ours:.3f} s, speed-up {t_theirs / t_ours:.0f}x")
    for key, (point, lo, hi) in mine.items():
        np.testing.assert_allclose(point, points[key], rtol=0, atol=1e-12)
        np.testing.assert_allclose(lo, intervals[key][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(hi, intervals[key][1], rtol=0, atol=1e-12)
