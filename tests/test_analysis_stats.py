"""Aggregates and the stratified bootstrap, pinned without rliable (tests/test_rliable_reference.py
checks the same against rliable itself)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness.analysis import stats

# Fixture of rliable 1.2.0's documentation: 5 runs x 3 tasks.
A = np.array([[.55, .72, .60], [.54, .42, .65], [.44, .89, .96], [.38, .79, .53], [.57, .93, .07]])
B = np.array([[.50, .68, .48], [.58, .28, .58], [.24, .83, .86], [.35, .53, .37], [.45, .98, .00]])
FOUR = [stats.median, stats.iqm, stats.mean, stats.optimality_gap]

# rliable 1.2.0, np.random.seed(42), 2 000 repetitions, get_interval_estimates({"A": A, "B": B}, ...)
RLIABLE_CI_A = ([0.45200000000000007, 0.5055555555555555, 0.4959833333333334, 0.3039833333333334],
                [0.754, 0.7000277777777777, 0.6960166666666666, 0.5040166666666666])
RLIABLE_CI_B = ([0.358, 0.3866388888888889, 0.3980000000000001, 0.372],
                [0.65, 0.6344722222222221, 0.628, 0.602])
# rliable 1.2.0, np.random.seed(42), 2 000 repetitions, {"A,B": [A, B]}, probability_of_improvement
RLIABLE_POI_CI = (0.41333333333333333, 0.84)


def reference_bootstrap(score_dict, fns, reps, rs):
    """Per-repetition loop with rliable's semantics, written independently of the module."""
    out = {}
    for key, value in score_dict.items():
        arrays = [value] if isinstance(value, np.ndarray) else list(value)
        point = np.array([f(*arrays) for f in fns], dtype=float)
        results = []
        for _ in range(reps):
            resampled = []
            for a in arrays:
                idx = rs.choice(a.shape[0], a.shape, replace=True)
                resampled.append(a[idx, np.arange(a.shape[1])[None, :]])
            results.append([f(*resampled) for f in fns])
        lo, hi = np.percentile(np.array(results), [2.5, 97.5], axis=0)
        out[key] = (point, lo, hi)
    return out


# --- point estimates ----------------------------------------------------------------------------

def test_fixture_point_estimates_equal_rliable_documentation():
    np.testing.assert_allclose([f(A) for f in FOUR], [.562, .598889, .602667, .397333], atol=5e-7)
    np.testing.assert_allclose([f(B) for f in FOUR], [.458, .502222, .514, .486], atol=5e-7)


def test_fixture_probability_of_improvement_is_064():
    assert stats.probability_of_improvement(A, B) == pytest.approx(0.64, abs=1e-15)


def test_aggregates_follow_their_definitions():
    task_means = A.mean(axis=0)
    assert stats.mean(A) == pytest.approx(A.mean(), abs=1e-15)
    assert stats.median(A) == pytest.approx(np.median(task_means), abs=1e-15)
    assert stats.iqm(A) == pytest.approx(scipy.stats.trim_mean(A, 0.25, axis=None), abs=1e-15)
    assert stats.optimality_gap(A, gamma=0.8) == pytest.approx(0.8 - np.minimum(A, 0.8).mean(), abs=1e-15)
    assert stats.std(A) == pytest.approx(np.std(A.ravel(), ddof=1), abs=1e-15)
    assert stats.std(A, ddof=0) == pytest.approx(np.std(A.ravel()), abs=1e-15)
    q25, q75 = stats.iqr(A)
    assert (q25, q75) == pytest.approx(tuple(np.percentile(A.ravel(), [25, 75])), abs=1e-15)
    assert set(stats.AGGREGATES) == {"median", "iqm", "mean", "optimality_gap"}


def test_probability_of_improvement_counts_ties_as_half():
    x = np.array([[1.0], [2.0]])
    y = np.array([[1.0], [0.0], [3.0]])
    # pairs: (1,1) tie, (1,0) win, (1,3) loss, (2,1) win, (2,0) win, (2,3) loss -> 3.5 / 6
    assert stats.probability_of_improvement(x, y) == pytest.approx(3.5 / 6)
    assert stats.probability_of_improvement(A, A) == 0.5


def test_probability_of_improvement_equals_mann_whitney_u_per_task():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, (6, 4)).astype(float), rng.integers(0, 5, (9, 4)).astype(float)
    u = [scipy.stats.mannwhitneyu(x[:, m], y[:, m], alternative="greater").statistic for m in range(4)]
    assert stats.probability_of_improvement(x, y) == pytest.approx(np.mean(u) / 54, abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 4), st.integers(1, 7), st.integers(2, 5)),
              elements=st.floats(-3, 3, allow_nan=False, width=32)))
def test_aggregates_of_a_batch_equal_aggregates_of_each_sample(batch):
    for f in FOUR + [stats.std]:
        together = f(batch)
        one_by_one = np.array([f(b) for b in batch])
        np.testing.assert_allclose(together, one_by_one, rtol=1e-12, atol=1e-12)
    pairs = stats.probability_of_improvement(batch, batch[::-1])
    np.testing.assert_array_equal(pairs, [stats.probability_of_improvement(a, b)
                                          for a, b in zip(batch, batch[::-1])])


# --- bootstrap ----------------------------------------------------------------------------------

def test_one_choice_call_draws_the_same_indices_as_one_call_per_repetition():
    for n, m in [(5, 3), (10, 6), (1, 4), (7, 2), (33, 3)]:
        per_rep = np.random.RandomState(7)
        expected = np.stack([per_rep.choice(n, (n, m)) for _ in range(50)])
        at_once = np.random.RandomState(7)
        np.testing.assert_array_equal(at_once.choice(n, (50, n, m)), expected)
        assert per_rep.random_sample() == at_once.random_sample()  # streams end at the same place


def test_fixture_ci_equals_rliable_under_numpy_seed_42():
    np.random.seed(42)
    ours = stats.stratified_bootstrap_ci({"A": A, "B": B}, FOUR, reps=2000)
    for key, (lo, hi) in {"A": RLIABLE_CI_A, "B": RLIABLE_CI_B}.items():
        np.testing.assert_allclose(ours[key][1], lo, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ours[key][2], hi, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["A"][1], [.452, .505556, .495983, .303983], atol=5e-7)
    np.testing.assert_allclose(ours["A"][2], [.754, .700028, .696017, .504017], atol=5e-7)


def test_fixture_probability_of_improvement_ci_equals_rliable_under_numpy_seed_42():
    point, lo, hi = stats.probability_of_improvement_ci({"A,B": (A, B)}, reps=2000, seed=42)["A,B"]
    assert float(point) == pytest.approx(0.64, abs=1e-15)
    assert (float(lo), float(hi)) == pytest.approx(RLIABLE_POI_CI, abs=1e-12)


def test_seed_argument_reproduces_global_seed_and_leaves_global_state_alone():
    np.random.seed(5)
    via_global = stats.stratified_bootstrap_ci({"A": A}, FOUR, reps=300)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    via_seed = stats.stratified_bootstrap_ci({"A": A}, FOUR, reps=300, seed=5)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    for a, b in zip(via_global["A"], via_seed["A"]):
        np.testing.assert_array_equal(a, b)


def test_global_state_advances_as_per_repetition_draws_do():
    np.random.seed(9)
    stats.stratified_bootstrap_ci({"A": A, "x": np.ones((2, 4))}, stats.iqm, reps=40)
    stats.probability_of_improvement_ci({"pair": (A, B[:4])}, reps=40)
    after_ours = np.random.random_sample()
    np.random.seed(9)
    for _ in range(40):
        np.random.choice(5, (5, 3))
    for _ in range(40):
        np.random.choice(2, (2, 4))
    for _ in range(40):
        np.random.choice(5, (5, 3))
        np.random.choice(4, (4, 3))
    assert np.random.random_sample() == after_ours


@pytest.mark.parametrize("shapes", [[(5, 3), (5, 3)], [(4, 2), (7, 2)], [(1, 3), (6, 3)]])
def test_bootstrap_equals_an_independent_per_repetition_loop(shapes):
    rng = np.random.default_rng(len(shapes[1]) + shapes[1][0])
    x, y = (rng.random(s) for s in shapes)
    score_dict = {"x": x, "y": y, "x>y": (x, y)}
    ours = stats.stratified_bootstrap_ci({k: v for k, v in score_dict.items() if k != "x>y"},
                                         FOUR, reps=400, seed=11)
    ours.update(stats.probability_of_improvement_ci({"x>y": (x, y)}, reps=400,
                                                    seed=11))
    rs = np.random.RandomState(11)
    ref = reference_bootstrap({"x": x, "y": y}, FOUR, 400, rs)
    ref.update(reference_bootstrap({"x>y": (x, y)}, [stats.probability_of_improvement], 400,
                                   np.random.RandomState(11)))
    for key in score_dict:
        for a, b in zip(ours[key], ref[key]):
            np.testing.assert_allclose(np.ravel(a), np.ravel(b), rtol=0, atol=1e-12)


def test_single_callable_gives_zero_dimensional_estimates():
    point, lo, hi = stats.stratified_bootstrap_ci({"A": A}, stats.iqm, reps=200, seed=0)["A"]
    assert point.shape == lo.shape == hi.shape == ()
    assert float(lo) <= float(point) <= float(hi)


def test_list_of_aggregates_gives_one_estimate_per_aggregate_in_order():
    point, lo, hi = stats.stratified_bootstrap_ci({"A": A}, FOUR, reps=200, seed=0)["A"]
    assert point.shape == lo.shape == hi.shape == (4,)
    np.testing.assert_array_equal(point, [f(A) for f in FOUR])
    assert np.all(lo <= hi)


def test_callable_without_batch_support_is_called_per_resample_with_equal_numbers():
    def mean_of_rows_only_2d(x):  # works on one [n_runs, n_tasks] sample only
        assert x.ndim == 2
        return float(np.mean(x))

    slow = stats.stratified_bootstrap_ci({"A": A}, mean_of_rows_only_2d, reps=300, seed=4)["A"]
    fast = stats.stratified_bootstrap_ci({"A": A}, stats.mean, reps=300, seed=4)["A"]
    for a, b in zip(slow, fast):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_chunked_repetitions_give_the_same_numbers(monkeypatch):
    whole = stats.stratified_bootstrap_ci({"A": A, "B": B}, FOUR, reps=1000, seed=2)
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 15 * 7)  # 7 repetitions per chunk
    chunked = stats.stratified_bootstrap_ci({"A": A, "B": B}, FOUR, reps=1000, seed=2)
    for key in whole:
        for a, b in zip(whole[key], chunked[key]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["percentile", "basic", "bc", "norm"])
def test_every_ci_method_brackets_the_point_estimate_of_a_smooth_statistic(method):
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(30, 4))
    point, lo, hi = stats.stratified_bootstrap_ci({"s": scores}, stats.mean, reps=2000,
                                                  method=method, seed=1)["s"]
    assert float(lo) < float(point) < float(hi)


def test_basic_interval_reflects_the_percentile_interval_around_the_point():
    p = stats.stratified_bootstrap_ci({"A": A}, FOUR, reps=500, seed=3)["A"]
    b = stats.stratified_bootstrap_ci({"A": A}, FOUR, reps=500, method="basic", seed=3)["A"]
    np.testing.assert_allclose(b[1], 2 * p[0] - p[2], atol=1e-15)
    np.testing.assert_allclose(b[2], 2 * p[0] - p[1], atol=1e-15)


def test_wider_confidence_gives_a_wider_interval():
    narrow = stats.stratified_bootstrap_ci({"A": A}, stats.iqm, reps=2000, confidence=0.5, seed=0)["A"]
    wide = stats.stratified_bootstrap_ci({"A": A}, stats.iqm, reps=2000, confidence=0.99, seed=0)["A"]
    assert wide[1] <= narrow[1] and narrow[2] <= wide[2]


def test_bad_arguments_are_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="percentile"):
        stats.stratified_bootstrap_ci({"A": A}, stats.iqm, reps=10, method="bca")
    with pytest.raises(ValueError, match="confidence"):
        stats.stratified_bootstrap_ci({"A": A}, stats.iqm, reps=10, confidence=95)
    with pytest.raises(ValueError, match="n_runs, n_tasks"):
        stats.stratified_bootstrap_ci({"v": np.ones(5)}, stats.iqm, reps=10)
    with pytest.raises(ValueError, match="every axis but the first"):
        stats.stratified_bootstrap_ci({"p": (np.ones((3, 2)), np.ones((3, 4)))},
                                      stats.probability_of_improvement, reps=10)
