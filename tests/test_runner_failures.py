"""A run that raises or produces a NaN loss is recorded as failed with its reason; the suite goes on."""
import json
from pathlib import Path

import pytest

from algorithms import registry
from algorithms.value.q_learning import ValueBased
from harness.runner.suite_runner import run_specs
from harness.spec import RunSpec


class _NaNLoss(ValueBased):
    """Stores NaN rewards, so the TD learner's own non-finite-loss check must stop the run."""

    name = "nan_probe"

    def observe(self, episodes):
        episodes.reward[:] = float("nan")
        super().observe(episodes)


class _NaNStatistic(ValueBased):
    """Trains normally but reports a NaN statistic, so the loop's own check must stop the run."""

    name = "nan_stat_probe"

    def train_program(self, t_env, episodes_seen, generator):
        logs = yield from super().train_program(t_env, episodes_seen, generator)
        return None if logs is None else logs | {"q_taken_mean": float("nan")}


class _Crash(ValueBased):
    name = "crash_probe"

    def observe(self, episodes):
        raise RuntimeError("boom in observe")


@pytest.fixture
def probes(monkeypatch):
    registry.available()  # load the real algorithms first, so they are in the table restored afterwards
    table = dict(registry._ALGORITHMS)
    table.update({"nan_probe": _NaNLoss, "nan_stat_probe": _NaNStatistic, "crash_probe": _Crash})
    monkeypatch.setattr(registry, "_ALGORITHMS", table)


def _spec(alg: str, seed: int = 0) -> RunSpec:
    return RunSpec(suite="failures", algorithm=alg, algorithm_config={"batch_size": 8}, scenario="climbing",
                   seed=seed, budget_env_steps=400, eval_interval=200, eval_episodes=8, device="cpu")


def test_failed_runs_are_recorded_with_reason_and_suite_continues(tmp_path, probes):
    specs = [_spec("nan_probe"), _spec("nan_stat_probe"), _spec("crash_probe"), _spec("vdn")]
    outcome = run_specs(specs, tmp_path, suite_name="failures", executor="inline")
    assert [label for label, _ in outcome.failed] == ["nan_probe/climbing/seed0", "nan_stat_probe/climbing/seed0",
                                                      "crash_probe/climbing/seed0"]
    assert outcome.done == [specs[3].run_id]
    st = json.loads((tmp_path / "runs" / specs[0].run_id / "status.json").read_text())
    assert st["status"] == "failed" and st["reason"] == "FloatingPointError: non-finite TD loss (nan)"
    st = json.loads((tmp_path / "runs" / specs[1].run_id / "status.json").read_text())
    assert st["status"] == "failed" and st["reason"].startswith("FloatingPointError: non-finite training statistic")
    st = json.loads((tmp_path / "runs" / specs[2].run_id / "status.json").read_text())
    assert st["status"] == "failed" and st["reason"] == "RuntimeError: boom in observe"
    assert "Traceback" in (tmp_path / "runs" / specs[2].run_id / "error.txt").read_text()


def test_failed_runs_are_skipped_on_rerun_unless_retry_is_asked(tmp_path, probes):
    specs = [_spec("crash_probe")]
    run_specs(specs, tmp_path, suite_name="failures", executor="inline")
    again = run_specs(specs, tmp_path, suite_name="failures", executor="inline")
    assert again.skipped == 1 and not again.failed
    retry = run_specs(specs, tmp_path, suite_name="failures", executor="inline", retry_failed=True)
    assert len(retry.failed) == 1


def test_process_pool_records_failures_and_finishes_the_rest(tmp_path):
    # the pool's workers import the real registry, so use a real failure: an unknown composition team
    bad = RunSpec(suite="failures", algorithm="iql", algorithm_config={}, scenario="mipi_matrix", seed=0,
                  budget_env_steps=200, eval_interval=200, eval_episodes=4, device="cpu",
                  eval_sets={"CC": __import__("harness.envs", fromlist=["CompositionSpec"]).CompositionSpec(
                      teams=(("C", "C"),))})
    good = _spec("iql", seed=1)
    outcome = run_specs([bad, good], tmp_path, suite_name="failures", workers=2, executor="process")
    assert outcome.done == [good.run_id]
    assert len(outcome.failed) == 1 and "allowed" in outcome.failed[0][1]


def test_a_run_held_by_another_process_is_skipped_not_run_twice(tmp_path):
    from harness.store import RunFiles

    spec = _spec("vdn")
    with RunFiles.for_spec(tmp_path, spec).lock():  # as if another harness process were executing it
        outcome = run_specs([spec], tmp_path, suite_name="failures", executor="inline")
    assert outcome.busy == [spec.label] and not outcome.done and not outcome.failed
    assert RunFiles.for_spec(tmp_path, spec).status()["status"] == "pending"
    assert run_specs([spec], tmp_path, suite_name="failures", executor="inline").done == [spec.run_id]


def test_pool_workers_exit_when_the_parent_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    suite = tmp_path / "suite.yaml"
    suite.write_text("""
name: orphans
seeds: 2
device: cpu
budget: {env_steps: 200000}
evaluation: {interval: 100000, episodes: 4}
algorithms: [iql]
scenarios: [climbing]
""")
    parent = subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "--out", str(tmp_path / "out"),
                               "--workers", "2", "--no-report", "--no-tracking"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(1.0)
        out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True).stdout.split("\n")[1:]
        workers = [int(p) for p, pp in (line.split() for line in out if line.strip()) if int(pp) == parent.pid]
        workers = [w for w in workers if "spawn_main" in open(f"/proc/{w}/cmdline").read().replace("\0", " ")]
    assert len(workers) == 2
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 60  # a worker may still be importing torch when its parent dies
    while time.time() < deadline and any(os.path.exists(f"/proc/{w}") for w in workers):
        time.sleep(0.5)
    alive = [w for w in workers if os.path.exists(f"/proc/{w}") and "Z" not in open(f"/proc/{w}/stat").read().split()[2]]
    assert not alive, f"workers {alive} outlived their killed parent"


def test_a_run_finished_by_another_process_meanwhile_is_not_touched_again(tmp_path):
    """Two harness processes on one folder: a run the other finished after this one listed its work
    is reported done, its status (wall time, resumed flag) and records left as they are."""
    from harness.runner.loop import execute_run
    from harness.store import RunFiles

    spec = _spec("vdn")
    assert run_specs([spec], tmp_path, suite_name="failures", executor="inline").done == [spec.run_id]
    files = RunFiles.for_spec(tmp_path, spec)
    before = (files.status_path.read_bytes(), files.evals_path.read_bytes())
    events = []
    result = execute_run(spec, tmp_path, events.append)  # what a stale work list would do
    assert result["status"] == "done" and [e["type"] for e in events] == ["end"]
    assert (files.status_path.read_bytes(), files.evals_path.read_bytes()) == before
