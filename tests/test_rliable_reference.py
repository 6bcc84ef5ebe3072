"""Our aggregates and stratified bootstrap CIs against rliable 1.2.0 itself, under the same seed.

Runs in the tox `rliable` env (rliable needs pandas<3); skipped where rliable is not installed.
Imports only numpy, scipy, rliable and harness.analysis.stats.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

rliable_library = pytest.importorskip("rliable.library")
rliable_metrics = pytest.importorskip("rliable.metrics")

from harness.analysis import stats  # noqa: E402

POINT_TOL = 1e-9
CI_TOL = 1e-12

A = np.array([[.55, .72, .60], [.54, .42, .65], [.44, .89, .96], [.38, .79, .53], [.57, .93, .07]])
B = np.array([[.50, .68, .48], [.58, .28, .58], [.24, .83, .86], [.35, .53, .37], [.45, .98, .00]])

OURS = [stats.median, stats.iqm, stats.mean, stats.optimality_gap]


def theirs(scores):
    return np.array([rliable_metrics.aggregate_median(scores), rliable_metrics.aggregate_iqm(scores),
                     rliable_metrics.aggregate_mean(scores),
                     rliable_metrics.aggregate_optimality_gap(scores)])


def rliable_estimates(score_dict, func, seed, **kwargs):
    np.random.seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rliable_library.get_interval_estimates(score_dict, func, **kwargs)


def assert_same(ours, points, intervals):
    assert list(ours) == list(points)
    for key, (point, lo, hi) in ours.items():
        np.testing.assert_allclose(np.ravel(point), np.ravel(points[key]), rtol=0, atol=POINT_TOL)
        np.testing.assert_allclose(np.ravel(lo), np.ravel(intervals[key][0]), rtol=0, atol=CI_TOL)
        np.testing.assert_allclose(np.ravel(hi), np.ravel(intervals[key][1]), rtol=0, atol=CI_TOL)


def random_scores(rng, shapes):
    return {f"alg{i}": rng.beta(2, 2, size=shape) for i, shape in enumerate(shapes)}


def test_fixture_matches_rliable_and_the_documented_numbers():
    points, intervals = rliable_estimates({"A": A, "B": B}, theirs, 42, reps=2000)
    np.testing.assert_allclose(points["A"], [.562, .598889, .602667, .397333], atol=5e-7)
    np.testing.assert_allclose(points["B"], [.458, .502222, .514, .486], atol=5e-7)
    np.testing.assert_allclose(intervals["A"][0], [.452, .505556, .495983, .303983], atol=5e-7)
    np.testing.assert_allclose(intervals["A"][1], [.754, .700028, .696017, .504017], atol=5e-7)
    np.random.seed(42)
    assert_same(stats.stratified_bootstrap_ci({"A": A, "B": B}, OURS, reps=2000), points, intervals)


def test_fixture_probability_of_improvement_matches_rliable():
    assert stats.probability_of_improvement(A, B) == pytest.approx(
        rliable_metrics.probability_of_improvement(A, B), abs=POINT_TOL)
    points, intervals = rliable_estimates({"A,B": [A, B]}, rliable_metrics.probability_of_improvement,
                                          42, reps=2000)
    assert_same(stats.probability_of_improvement_ci({"A,B": (A, B)}, reps=2000, seed=42),
                points, intervals)


@pytest.mark.parametrize("shapes", [
    [(10, 6), (10, 6), (10, 6)],
    [(3, 1), (8, 5), (1, 4)],
    [(7, 2), (20, 10)],
    [(5, 12)],
])
def test_random_scores_match_rliable_for_all_four_aggregates(shapes):
    rng = np.random.default_rng(sum(n * m for n, m in shapes))
    score_dict = random_scores(rng, shapes)
    points, intervals = rliable_estimates(score_dict, theirs, 7, reps=600)
    after_rliable = np.random.random_sample()
    np.random.seed(7)
    assert_same(stats.stratified_bootstrap_ci(score_dict, OURS, reps=600), points, intervals)
    assert np.random.random_sample() == after_rliable  # the global stream is left where rliable leaves it


def test_seeded_call_matches_rliable_after_numpy_seed():
    score_dict = random_scores(np.random.default_rng(1), [(6, 4), (9, 4)])
    points, intervals = rliable_estimates(score_dict, theirs, 2024, reps=600)
    assert_same(stats.stratified_bootstrap_ci(score_dict, OURS, reps=600, seed=2024), points, intervals)


def test_discrete_scores_with_many_ties_match_rliable():
    rng = np.random.default_rng(5)
    score_dict = {"a": rng.integers(0, 4, (8, 3)) / 4, "b": rng.integers(0, 2, (8, 3)).astype(float)}
    points, intervals = rliable_estimates(score_dict, theirs, 3, reps=600)
    assert_same(stats.stratified_bootstrap_ci(score_dict, OURS, reps=600, seed=3), points, intervals)


@pytest.mark.parametrize("method,confidence", [("percentile", 0.9), ("basic", 0.95), ("bc", 0.95)])
def test_other_interval_methods_and_sizes_match_rliable(method, confidence):
    score_dict = random_scores(np.random.default_rng(8), [(10, 5), (6, 5)])
    points, intervals = rliable_estimates(score_dict, theirs, 11, reps=600, method=method,
                                          confidence_interval_size=confidence)
    ours = stats.stratified_bootstrap_ci(score_dict, OURS, reps=600, confidence=confidence,
                                         method=method, seed=11)
    assert_same(ours, points, intervals)


@pytest.mark.parametrize("nx,ny,m", [(5, 5, 3), (4, 9, 2), (10, 10, 6), (1, 3, 4)])
def test_probability_of_improvement_ci_matches_rliable(nx, ny, m):
    rng = np.random.default_rng(nx * 100 + ny * 10 + m)
    pairs = {"x,y": (rng.random((nx, m)), rng.random((ny, m))),
             "y,x": (rng.integers(0, 3, (ny, m)) / 2, rng.integers(0, 3, (nx, m)) / 2)}
    points, intervals = rliable_estimates({k: list(v) for k, v in pairs.items()},
                                          rliable_metrics.probability_of_improvement, 13, reps=400)
    assert_same(stats.probability_of_improvement_ci(pairs, reps=400, seed=13), points, intervals)


def test_single_aggregate_matches_rliable_one_element_output():
    score_dict = random_scores(np.random.default_rng(2), [(10, 6), (10, 6)])
    points, intervals = rliable_estimates(
        score_dict, lambda x: np.array([rliable_metrics.aggregate_iqm(x)]), 0, reps=2000)
    assert_same(stats.stratified_bootstrap_ci(score_dict, stats.iqm, reps=2000, seed=0), points, intervals)
