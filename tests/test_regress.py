"""Regression gate: baseline round trip, verdicts, tolerance, and its error rates on synthetic draws
(catches a two-standard-deviation drop, keeps false alarms at or below alpha)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness.analysis import compare, gate
from harness.regress import (assert_no_regression, compare_to_baseline, gate_decisions, record_baseline,
                             win_rate_resolution)

PAIRS = [("iql", "climbing", "train"), ("vdn", "climbing", "train"), ("qmix", "climbing", "train")]


def per_run(values: dict[tuple, np.ndarray], metric: str = "final_win_rate") -> pd.DataFrame:
    rows = [{"suite": "s", "algorithm": a, "scenario": s, "eval_set": e, "composition": "all", "seed": seed,
             "run_id": f"{a}-{s}-{seed}", "status": "done", "metric": metric, "value": float(v)}
            for (a, s, e), vals in values.items() for seed, v in enumerate(vals)]
    return pd.DataFrame(rows)


def test_baseline_round_trip_keeps_seeds_values_and_provenance(tmp_path):
    path = tmp_path / "baseline.json"
    record_baseline(per_run({PAIRS[0]: [0.1, 0.2, 0.3]}), path, provenance={"git_commit": "abc", "dirty": False})
    data = json.loads(path.read_text())
    assert data["metric"] == "final_win_rate" and data["provenance"] == {"git_commit": "abc", "dirty": False}
    assert data["entries"] == [{"algorithm": "iql", "scenario": "climbing", "eval_set": "train",
                                "seeds": [0, 1, 2], "values": [0.1, 0.2, 0.3]}]


def test_unchanged_candidate_passes_and_table_lists_every_pair(tmp_path):
    base = {p: np.array([0.5, 0.6, 0.55, 0.52, 0.58]) for p in PAIRS}
    path = tmp_path / "b.json"
    record_baseline(per_run(base), path, provenance={})
    result = assert_no_regression(per_run(base), path)
    assert not result.regressed and [r.verdict for r in result.rows] == ["ok"] * 3
    table = result.table_markdown()
    assert table.count("| ok |") == 3 and "Holm-corrected over 3 pairs" in table


def test_regression_is_flagged_with_holm_adjusted_pvalue(tmp_path):
    base = {p: np.array([0.80, 0.82, 0.84, 0.86, 0.88]) for p in PAIRS}
    cand = dict(base)
    cand[PAIRS[1]] = np.array([0.40, 0.42, 0.45, 0.41, 0.43])
    path = tmp_path / "b.json"
    record_baseline(per_run(base), path, provenance={})
    result = compare_to_baseline(per_run(cand), path)
    row = {r.algorithm: r for r in result.rows}["vdn"]
    p = compare.welch_t(cand[PAIRS[1]], base[PAIRS[1]], alternative="less").pvalue
    assert row.verdict == "REGRESSION" and row.p_shift == pytest.approx(p)
    assert row.pvalue == pytest.approx(min(1.0, p / gate.SHIFT_WEIGHT, row.p_collapse / (1 - gate.SHIFT_WEIGHT)))
    assert row.p_adjusted == pytest.approx(min(1.0, 3 * row.pvalue))
    assert row.delta == pytest.approx(cand[PAIRS[1]].mean() - base[PAIRS[1]].mean())
    assert result.regressed
    with pytest.raises(AssertionError, match=r"\| vdn \| climbing \| train \| .* \| REGRESSION \|"):
        assert_no_regression(per_run(cand), path)


def test_tolerance_shifts_the_baseline_down_before_testing(tmp_path):
    base = {PAIRS[0]: np.array([0.80, 0.82, 0.84, 0.86, 0.88])}
    cand = {PAIRS[0]: base[PAIRS[0]] - 0.05}
    path = tmp_path / "b.json"
    record_baseline(per_run(base), path, provenance={})
    strict = compare_to_baseline(per_run(cand), path, tolerance=0.0)
    lenient = compare_to_baseline(per_run(cand), path, tolerance=0.1)
    assert strict.regressed and not lenient.regressed
    expected = compare.welch_t(cand[PAIRS[0]], base[PAIRS[0]] - 0.1, alternative="less").pvalue
    assert lenient.rows[0].p_shift == pytest.approx(expected)
    assert "τ = 0.1;" in lenient.table_markdown()


def test_pairs_without_candidate_runs_are_missing_not_regressed(tmp_path):
    path = tmp_path / "b.json"
    record_baseline(per_run({p: np.array([0.5, 0.6, 0.7]) for p in PAIRS}), path, provenance={})
    result = compare_to_baseline(per_run({PAIRS[0]: np.array([0.5, 0.6, 0.7])}), path)
    assert {r.algorithm: r.verdict for r in result.rows} == {"iql": "ok", "vdn": "missing", "qmix": "missing"}
    assert not result.regressed
    with pytest.raises(AssertionError, match="without candidate runs"):
        assert_no_regression(per_run({PAIRS[0]: np.array([0.5, 0.6, 0.7])}), path)
    assert_no_regression(per_run({PAIRS[0]: np.array([0.5, 0.6, 0.7])}), path, allow_missing=True)


def test_comparing_on_another_metric_than_recorded_is_an_error(tmp_path):
    path = tmp_path / "b.json"
    record_baseline(per_run({PAIRS[0]: [0.5, 0.6]}), path, provenance={})
    with pytest.raises(ValueError, match="holds 'final_win_rate', not 'auc_win_rate'"):
        compare_to_baseline(per_run({PAIRS[0]: [0.5, 0.6]}, metric="auc_win_rate"), path, metric="auc_win_rate")


def test_constant_samples_still_detect_a_drop(tmp_path):
    path = tmp_path / "b.json"
    record_baseline(per_run({PAIRS[0]: np.ones(5)}), path, provenance={})
    assert compare_to_baseline(per_run({PAIRS[0]: np.zeros(5)}), path).regressed
    assert not compare_to_baseline(per_run({PAIRS[0]: np.ones(5)}), path).regressed


def _flag_rate(test: str, trials: int, shift_sd: float, seed: int) -> float:
    """Share of trials in which the gate flags a regression: 3 pairs with 10 seeds each, the candidate
    of the first pair drawn with its mean lowered by `shift_sd` standard deviations (0: fresh draws
    from the baseline's distribution for every pair)."""
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(trials):
        pairs = [(rng.normal(0.6, 0.1, 10), rng.normal(0.6 - (shift_sd * 0.1 if i == 0 else 0.0), 0.1, 10))
                 for i in range(3)]
        flagged += any(reject for _, _, reject in gate_decisions(pairs, test, alpha=0.05))
    return flagged / trials


def test_gate_decisions_are_what_compare_to_baseline_reports(tmp_path):
    rng = np.random.default_rng(0)
    base = {p: rng.normal(0.6, 0.1, 10) for p in PAIRS}
    cand = {p: rng.normal(0.45, 0.1, 10) for p in PAIRS}
    path = tmp_path / "b.json"
    record_baseline(per_run(base), path, provenance={})
    rows = {(r.algorithm, r.scenario, r.eval_set): r for r in
            compare_to_baseline(per_run(cand), path, test="mannwhitney").rows}
    decisions = gate_decisions([(base[p], cand[p]) for p in PAIRS], "mannwhitney")
    for p, (pvalue, adjusted, reject) in zip(PAIRS, decisions):
        assert (rows[p].pvalue, rows[p].p_adjusted, rows[p].verdict == "REGRESSION") == \
            (pytest.approx(pvalue), pytest.approx(adjusted), reject)


@pytest.mark.parametrize("test", ["welch", "mannwhitney"])
def test_gate_catches_a_two_sd_drop_in_at_least_95_percent_of_trials(test):
    assert _flag_rate(test, trials=200, shift_sd=2.0, seed=1) >= 0.95


@pytest.mark.parametrize("test", ["welch", "mannwhitney"])
def test_gate_false_alarm_rate_on_unchanged_data_is_not_above_alpha(test):
    """Holm keeps the family-wise rate at or just under alpha, so the observed share of 2,000 trials
    is compared with alpha plus 2.33 binomial standard errors (a 99 % one-sided bound): a gate without
    the correction (1 − 0.95³ ≈ 14 % here) fails, sampling noise around a calibrated rate does not."""
    trials, alpha = 1_000, 0.05
    rate = _flag_rate(test, trials=trials, shift_sd=0.0, seed=2)
    assert rate <= alpha + 2.33 * np.sqrt(alpha * (1 - alpha) / trials)


@pytest.mark.parametrize("test", ["welch", "mannwhitney"])
def test_gate_false_alarms_in_200_unchanged_trials_stay_within_alpha(test):
    """The acceptance wording: 200 trials of unchanged data (fixed seed), false alarms <= alpha."""
    assert _flag_rate(test, trials=200, shift_sd=0.0, seed=2) <= 0.05


# --- measurement resolution and collapses (a win rate over 32 episodes moves in steps of 1/32) ---

STEP = 1 / 32


def test_a_one_episode_change_in_a_constant_win_rate_is_not_a_regression(tmp_path):
    """Every seed at 31/32 against every seed at 1.0 differs by one episode of 32: within the
    measurement's resolution (the old gate called it a regression with p = 0)."""
    path = tmp_path / "b.json"
    record_baseline(per_run({PAIRS[0]: np.ones(5)}), path, provenance={}, resolution=STEP)
    result = compare_to_baseline(per_run({PAIRS[0]: np.full(5, 31 / 32)}), path)
    assert result.resolution == STEP and not result.regressed
    assert "measurement resolution 0.03125" in result.table_markdown()


def test_a_collapse_of_two_of_five_seeds_is_a_regression(tmp_path):
    """[1, 1, 1, 0, 0] against [1] * 5: the mean test alone gives p = 0.089 and passed it."""
    path = tmp_path / "b.json"
    record_baseline(per_run({PAIRS[0]: np.ones(5)}), path, provenance={}, resolution=STEP)
    row = compare_to_baseline(per_run({PAIRS[0]: np.array([1, 1, 1, 0, 0.0])}), path).rows[0]
    assert row.verdict == "REGRESSION" and row.p_shift > 0.05 and row.p_collapse < 1e-4


def test_resolution_of_a_final_win_rate_is_one_episode_of_the_evaluations_averaged():
    assert win_rate_resolution("final_win_rate", episodes=32, k=1) == STEP
    assert win_rate_resolution("final_win_rate", episodes=16, k=2) == STEP
    assert win_rate_resolution("final_return", episodes=32) is None


def test_measurement_noise_floors_the_variance_of_a_constant_sample():
    assert gate.floored_std(np.ones(5), None) == 0.0
    assert gate.floored_std(np.ones(5), STEP) == pytest.approx(np.sqrt((1 / 64) * (63 / 64) / 32))
    values = np.array([0.2, 0.9, 0.5])
    assert gate.floored_std(values, STEP) == pytest.approx(np.std(values, ddof=1))


def test_the_shift_test_is_welchs_test_on_the_floored_summary_statistics():
    from scipy import stats as sps
    base, cand = np.ones(5), np.array([1, 1, 31 / 32, 30 / 32, 1])
    tested = gate.pair_test(base, cand, "welch", 0.0, STEP)
    expected = sps.ttest_ind_from_stats(cand.mean(), gate.floored_std(cand, STEP), 5, 1 - STEP, gate.floored_std(base, STEP),
                                        5, equal_var=False, alternative="less").pvalue
    assert tested.tolerance == STEP and tested.p_shift == pytest.approx(expected)


def _binomial_trials(trials: int, seed: int, collapse: int, rate: float = 0.97, n: int = 5,
                     test: str = "welch") -> float:
    """Share of trials flagged: per-seed win rates measured on 32 episodes at `rate`, with the first
    `collapse` candidate seeds replaced by 0 wins."""
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(trials):
        base = rng.binomial(32, rate, n) / 32
        cand = rng.binomial(32, rate, n) / 32
        cand[:collapse] = 0.0
        flagged += gate_decisions([(base, cand)], test, alpha=0.05, resolution=STEP)[0][2]
    return flagged / trials


@pytest.mark.parametrize("test", ["welch", "mannwhitney"])
def test_collapses_of_two_of_five_noisy_seeds_are_caught_and_unchanged_seeds_are_not(test):
    assert _binomial_trials(200, seed=3, collapse=2, test=test) >= 0.95
    trials, alpha = 1_000, 0.05
    assert _binomial_trials(trials, seed=4, collapse=0, test=test) <= alpha + 2.33 * np.sqrt(alpha * (1 - alpha) / trials)
