"""Runs survive SIGKILL and Ctrl-C: re-running completes the suite, skips finished runs, and ends with
exactly the metrics of an uninterrupted run (CPU)."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SUITE = """
name: resume-check
seeds: 2
device: cpu
budget: {env_steps: 1200}
training: {n_envs: 8}
evaluation: {interval: 200, episodes: 16}
algorithms: [qmix, iql]
scenarios:
  - name: climbing
    overrides: {epsilon_anneal_time: 600, batch_size: 16}
"""


def _run(suite: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    # a shell that starts jobs in the background hands them SIGINT ignored: give the child Ctrl-C back
    return subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "--out", str(out),
                             "--no-report", "--no-tracking", "--workers", "1", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _evals(out: Path) -> dict[str, list[dict]]:
    runs = {}
    for run_dir in sorted((out / "runs").iterdir()):
        rows = [json.loads(x) for x in (run_dir / "evals.jsonl").read_text().splitlines()]
        runs[run_dir.name] = rows
    return runs


def _episodes(out: Path) -> dict[str, str]:
    return {d.name: (d / "episodes.jsonl").read_text() for d in sorted((out / "runs").iterdir())}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    suite = root / "suite.yaml"
    suite.write_text(SUITE)
    proc = _run(suite, root / "out")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return suite, root / "out"


# Kills are triggered by observed progress, not by wall-clock sleeps, so their number does not depend
# on the machine's speed. Progress = evaluations recorded so far over all runs (the distinct steps in
# every runs/*/evals.jsonl). With --workers 1 the 4 runs execute one after the other, each with 7
# evaluations (steps 0, 200, ..., 1200), so evaluations 1-7 belong to the first run, 8-14 to the
# second, and so on. Thresholds land inside every run, one right at the end of a run (between its last
# evaluation and its "done" status), and leave the last run's tail uninterrupted.
EVALS_PER_RUN, N_RUNS = 7, 4
KILL_AT = (2, 5, 7, 11, 17, 24)       # evaluations recorded when the kill is triggered
MAX_EXTRA_DELAY = 0.15                # seconds: a seeded random pause after the threshold is seen
POLL_SECONDS = 0.02
ATTEMPT_TIMEOUT = 600.0               # seconds one harness process may take to reach its threshold


def _evaluations_recorded(out: Path) -> int:
    """Evaluations recorded so far over all runs (a line cut by a kill is ignored)."""
    total = 0
    for path in (out / "runs").glob("*/evals.jsonl"):
        steps = set()
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:  # replaced by the resume's rewrite right now
            continue
        for line in lines:
            try:
                steps.add(json.loads(line)["step"])
            except (json.JSONDecodeError, KeyError):
                break
        total += len(steps)
    return total


def _kill_once_past(proc: subprocess.Popen, out: Path, threshold: int, extra_delay: float) -> None:
    """SIGKILL ``proc`` once ``threshold`` evaluations are recorded (then ``extra_delay`` later)."""
    deadline = time.monotonic() + ATTEMPT_TIMEOUT
    while _evaluations_recorded(out) < threshold:
        if proc.poll() is not None:
            log = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"the harness exited (rc={proc.returncode}) with {_evaluations_recorded(out)} "
                        f"evaluations recorded, before the kill planned at {threshold}:\n{log}")
        if time.monotonic() > deadline:
            proc.kill()
            log, _ = proc.communicate()
            pytest.fail(f"no progress to {threshold} evaluations within {ATTEMPT_TIMEOUT:.0f}s "
                        f"({_evaluations_recorded(out)} recorded): the run hangs\n{log}")
        time.sleep(POLL_SECONDS)
    time.sleep(extra_delay)
    if proc.poll() is not None:
        log = proc.stdout.read() if proc.stdout else ""
        pytest.fail(f"the harness exited (rc={proc.returncode}) during the {extra_delay:.3f}s before the kill "
                    f"planned at {threshold} evaluations; move the thresholds away from the end\n{log}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()


def test_sigkill_at_arbitrary_moments_then_rerun_gives_identical_results(tmp_path, reference):
    suite, ref_out = reference
    assert sum(len({r["step"] for r in rows}) for rows in _evals(ref_out).values()) == EVALS_PER_RUN * N_RUNS
    assert KILL_AT[-1] < EVALS_PER_RUN * N_RUNS
    out = tmp_path / "out"
    rng = random.Random(20240611)  # kills land at varied moments (mid-collection, mid-checkpoint), reproducibly
    kills, finished_mtimes = 0, {}
    for threshold in KILL_AT:
        proc = _run(suite, out)
        _kill_once_past(proc, out, threshold, rng.uniform(0.0, MAX_EXTRA_DELAY))
        kills += 1
        if kills == 1:  # a killed run is reported as interrupted (resumable), never as running
            status = subprocess.run([sys.executable, "-m", "harness", "status", str(suite), "--out", str(out)],
                                    capture_output=True, text=True, timeout=120).stdout
            assert "running" not in status.split("\n")[-2]
            assert "interrupted" in status or "pending" in status
        # a run finished before this kill must never be touched again
        for d in (out / "runs").glob("*"):
            st = json.loads((d / "status.json").read_text()) if (d / "status.json").exists() else {}
            if st.get("status") == "done":
                finished_mtimes.setdefault(d.name, (d / "status.json").stat().st_mtime_ns)
    assert kills == len(KILL_AT)
    proc = _run(suite, out)
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log
    for name, mtime in finished_mtimes.items():
        assert (out / "runs" / name / "status.json").stat().st_mtime_ns == mtime, f"finished run {name} re-ran"
    assert _evals(out) == _evals(ref_out)
    assert _episodes(out) == _episodes(ref_out)
    for d in (out / "runs").iterdir():
        assert json.loads((d / "status.json").read_text())["status"] == "done"


def test_rerun_of_finished_suite_says_all_done_and_runs_nothing(reference):
    suite, ref_out = reference
    before = _episodes(ref_out)
    proc = _run(suite, ref_out)
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert "all 4 runs of resume-check already done" in log
    assert _episodes(ref_out) == before


def test_ctrl_c_stops_cleanly_and_keeps_finished_work(tmp_path, reference):
    suite, ref_out = reference
    out = tmp_path / "out"
    proc = _run(suite, out)
    time.sleep(3.0)  # often still starting up: Ctrl-C then must be just as clean
    proc.send_signal(signal.SIGINT)
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), log
    if proc.returncode == 130:
        assert "interrupted" in log and "Traceback" not in log
    proc = _run(suite, out)
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log
    assert _evals(out) == _evals(ref_out)


def test_kill_between_first_evaluation_and_first_checkpoint_leaves_no_duplicate_records(tmp_path):
    """Records written before any checkpoint existed are dropped when the run starts again."""
    from harness.runner.loop import RunLoop, execute_run
    from harness.store import RunFiles
    from harness.spec import RunSpec

    spec = RunSpec(suite="window", algorithm="vdn", algorithm_config={"batch_size": 8}, scenario="climbing",
                   seed=0, budget_env_steps=400, eval_interval=200, eval_episodes=8, device="cpu")
    execute_run(spec, tmp_path / "ref", lambda e: None)
    # the killed process: its first evaluation reached the files, its first checkpoint did not
    files = RunFiles.for_spec(tmp_path / "killed", spec)
    files.create(spec)
    RunLoop(spec, tmp_path / "killed", lambda e: None, device="cpu").evaluate_now()
    assert not (files.root / "checkpoint.pt").exists() and files.evals_path.exists()
    execute_run(spec, tmp_path / "killed", lambda e: None)
    ref = RunFiles.for_spec(tmp_path / "ref", spec)
    assert files.evals_path.read_text() == ref.evals_path.read_text()
    assert files.episodes_path.read_text() == ref.episodes_path.read_text()


STEPPED_SUITE = """
name: resume-stepped
seeds: [4]
device: cpu
budget: {env_steps: 1200}
training: {n_envs: 4}
evaluation: {interval: 400, episodes: 4}
algorithms:
  - {name: mappo, overrides: {horizon: 25, epochs: 2}}
  - {name: maddpg, overrides: {batch_size: 32, warmup: 64}}
scenarios: [3m]
"""


def test_sigkill_of_stepped_collection_then_rerun_gives_identical_results(tmp_path):
    """Rollouts (MAPPO) and per-step transitions (MADDPG) keep environments, hidden states and
    replay across rounds; killed at varied moments and re-run, they end as an uninterrupted run."""
    suite = tmp_path / "suite.yaml"
    suite.write_text(STEPPED_SUITE)   # 2 runs (MADDPG with Gumbel-softmax actions) of 4 evaluations each
    ref = _run(suite, tmp_path / "ref")
    log, _ = ref.communicate(timeout=900)
    assert ref.returncode == 0, log
    assert sum(len({r["step"] for r in rows}) for rows in _evals(tmp_path / "ref").values()) == 8
    out, rng = tmp_path / "out", random.Random(7)
    for threshold in (2, 3, 6):
        _kill_once_past(_run(suite, out), out, threshold, rng.uniform(0, MAX_EXTRA_DELAY))
    final = _run(suite, out)
    log, _ = final.communicate(timeout=900)
    assert final.returncode == 0, log
    assert _evals(out) == _evals(tmp_path / "ref")
    assert _episodes(out) == _episodes(tmp_path / "ref")
