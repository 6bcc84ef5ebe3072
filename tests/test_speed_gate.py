"""Speed is a regression too: runs record their throughput and memory, the gate tests a slowdown on
the log scale and reports it apart from a learning regression (exit code 3)."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from algorithms import registry
from algorithms.value.q_learning import ValueBased
from harness.analysis import gate
from harness.analysis.frame import SPEED_COLUMNS, load_runs
from harness.regress import SPEED_FIELDS, compare_speed
from harness.runner.suite_runner import run_specs
from harness.spec import RunSpec


def _spec(alg: str, seed: int = 0) -> RunSpec:
    return RunSpec(suite="speed", algorithm=alg, algorithm_config={"batch_size": 8}, scenario="climbing",
                   seed=seed, budget_env_steps=400, eval_interval=200, eval_episodes=8, device="cpu")


SLEEP = 0.01


class _Sleepy(ValueBased):
    """VDN's learner with a sleep in every update: a deliberate slowdown."""

    name = "sleepy_probe"
    calls = 0

    def train_program(self, t_env, episodes_seen, generator):
        type(self).calls += 1
        time.sleep(SLEEP)
        return (yield from super().train_program(t_env, episodes_seen, generator))


@pytest.fixture
def sleepy(monkeypatch):
    registry.available()
    table = dict(registry._ALGORITHMS) | {"sleepy_probe": _Sleepy}
    monkeypatch.setattr(registry, "_ALGORITHMS", table)


def test_a_finished_run_records_phase_times_throughput_and_peak_memory(tmp_path, sleepy):
    specs = [_spec("vdn"), _spec("sleepy_probe")]
    run_specs(specs, tmp_path, suite_name="speed", executor="inline")
    status = json.loads((tmp_path / "runs" / specs[0].run_id / "status.json").read_text())
    speed = status["speed"]
    assert speed["collect_seconds"] > 0 and speed["learn_seconds"] > 0 and speed["eval_seconds"] > 0
    assert speed["collect_seconds"] + speed["learn_seconds"] + speed["eval_seconds"] <= status["wall_seconds"]
    assert speed["steps_per_second"] == pytest.approx(
        status["t_env"] / (speed["collect_seconds"] + speed["learn_seconds"]))
    assert speed["peak_rss_mb"] > 50                       # a process holding torch
    runs = load_runs(tmp_path, [s.run_id for s in specs])
    assert set(SPEED_COLUMNS) <= set(runs.columns)
    slow = runs.set_index("algorithm").loc["sleepy_probe"]
    slept = SLEEP * _Sleepy.calls
    assert _Sleepy.calls > 10 and slow["learn_seconds"] >= slept     # the sleep is timed as learning
    assert slow["collect_seconds"] < slept and slow["eval_seconds"] < slept


def _draw(rng, n, centre, noise=0.03):
    return centre * np.exp(rng.normal(0.0, noise, n))


def _slow_rate(trials: int, seed: int, slowdown: float, n: int = 5, tolerance: float = 0.1) -> float:
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(trials):
        base = {f: _draw(rng, n, 1000.0) for f in SPEED_FIELDS}
        cand = {f: _draw(rng, n, 1000.0 * (1 - slowdown)) for f in SPEED_FIELDS}
        flagged += compare_speed([("vdn", "3m", base, cand)], tolerance).slowed
    return flagged / trials


def test_a_30_percent_slowdown_is_caught_and_one_within_tolerance_is_not():
    assert _slow_rate(200, seed=0, slowdown=0.3) >= 0.95
    assert _slow_rate(200, seed=1, slowdown=0.05) <= 0.05


def test_speed_false_alarms_at_the_tolerance_stay_at_alpha():
    """A candidate exactly (1 − tolerance) × the baseline is the null's edge: flagged at most alpha."""
    trials, alpha = 1_000, 0.05
    assert _slow_rate(trials, seed=2, slowdown=0.1) <= alpha + 2.33 * np.sqrt(alpha * (1 - alpha) / trials)


def test_speed_test_is_welch_on_log_throughput():
    from scipy import stats as sps
    base, cand = np.array([1000, 1100, 950, 1020.0]), np.array([700, 760, 690, 720.0])
    got = gate.speed_test(base, cand, tolerance=0.1)
    expected = sps.ttest_ind(np.log(cand), np.log(base) + np.log(0.9), equal_var=False, alternative="less").pvalue
    assert got.pvalue == pytest.approx(expected)
    assert got.ratio == pytest.approx(np.exp(np.log(cand).mean() - np.log(base).mean()))


def test_exit_codes_tell_a_learning_regression_from_a_slowdown():
    from harness.cli import EXIT_OK, EXIT_REGRESSION, EXIT_SLOWER, _gate_exit
    from harness.regress import compare_values

    same = [("vdn", "3m", "train", np.array([0.8, 0.9, 0.85]), np.array([0.8, 0.9, 0.85]))]
    worse = [("vdn", "3m", "train", np.array([0.8, 0.9, 0.85]), np.array([0.1, 0.0, 0.05]))]
    base = {f: np.array([1000.0, 1010, 990]) for f in SPEED_FIELDS}
    fast = compare_speed([("vdn", "3m", base, base)])
    slow = compare_speed([("vdn", "3m", base, {f: v / 2 for f, v in base.items()})])
    assert slow.slowed and not fast.slowed
    assert _gate_exit(compare_values(same, "final_win_rate"), fast) == EXIT_OK
    assert _gate_exit(compare_values(same, "final_win_rate"), None) == EXIT_OK
    assert _gate_exit(compare_values(same, "final_win_rate"), slow) == EXIT_SLOWER == 3
    assert _gate_exit(compare_values(worse, "final_win_rate"), slow) == EXIT_REGRESSION == 1
    assert _gate_exit(compare_values(worse, "final_win_rate"), fast) == EXIT_REGRESSION
