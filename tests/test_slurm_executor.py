"""``--executor slurm`` through submitit's local executor: the same records as inline, a task stopped by
its time-limit signal requeued and resumed without a lost or repeated evaluation, a task that may not
be requeued again recorded failed, and a task killed outright recorded failed, then resumed."""
import os
import signal
from pathlib import Path

import pytest

submitit = pytest.importorskip("submitit")
pytestmark = pytest.mark.scale   # tox -e scale-out (excluded from the default run: about 2 minutes on 2 cores)

from harness.runner.executors import ExecutorOptions  # noqa: E402
from harness.runner.slurm_executor import SlurmExecutor  # noqa: E402
from harness.runner.suite_runner import run_specs  # noqa: E402
from harness.store import DONE, FAILED, RunFiles  # noqa: E402
from harness.suite import expand, load_suite  # noqa: E402
from harness.suite.models import Resources, SlurmOptions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INTERVAL, BUDGET = 200, 800   # evaluations at 0, 200, ..., 800 (multiples of a round of 8 steps)
OVERRIDES = ["seeds=2", "algorithms=[iql]", "scenarios=[iac_matrix]", f"budget.env_steps={BUDGET}",
             f"evaluation.interval={INTERVAL}", "evaluation.episodes=8", "resources.slurm.cpus_per_task=1"]


class RecordingTracker:
    """Stands in for MLflow: what the driver mirrors, per run."""

    def __init__(self) -> None:
        self.evaluations: dict[str, list] = {}
        self.synced: list[str] = []

    def log_evaluations(self, spec, summary, train=None) -> None:
        self.evaluations.setdefault(spec.run_id, []).append((summary, dict(train or {})))

    def sync(self, files: RunFiles) -> None:
        self.synced.append(files.root.name)


def records(out: Path, spec) -> tuple[list, list]:
    files = RunFiles.for_spec(out, spec)
    return RunFiles.read_jsonl(files.evals_path), RunFiles.read_jsonl(files.episodes_path)


@pytest.fixture(scope="module")
def suite():
    return load_suite(ROOT / "suites" / "quickstart.yaml", overrides=OVERRIDES)


@pytest.fixture(scope="module")
def specs(suite):
    specs = expand(suite)
    assert len(specs) == 2
    return specs


@pytest.fixture(scope="module")
def reference(suite, specs, tmp_path_factory):
    """The suite run inline (its seeds as one run group): records and what MLflow was sent."""
    out = tmp_path_factory.mktemp("inline")
    tracker = RecordingTracker()
    outcome = run_specs(specs, out, suite_name=suite.name, executor="inline", tracker_factory=lambda: tracker)
    assert len(outcome.done) == 2 and not outcome.failed
    return {s.run_id: records(out, s) for s in specs}, tracker


def executor(tmp_path: Path, max_requeues: int) -> SlurmExecutor:
    # under 10 minutes submitit takes any USR2 for the time limit (not a preemption); the local
    # executor's own signal would come 30 s before the limit, long after these runs end
    resources = Resources(slurm=SlurmOptions(time_min=10, cpus_per_task=1, max_requeues=max_requeues))
    return SlurmExecutor(resources, cluster="local", folder=tmp_path / "submitit", poll_s=0.1)


def signal_after_first_checkpoint(out: Path, spec, sig: int, events: list):
    """An event sink that sends `sig` to the task running `spec` once its first evaluation after step 0 is
    reported (so a checkpoint after step 0 is on disk, or about to be), as Slurm signals a task at its
    time limit; three quarters of the run are left to do."""
    def on_event(event: dict) -> None:
        events.append(event)
        if event["type"] == "eval" and event["t_env"] > 0 and "sent" not in events:
            os.kill(int(RunFiles.for_spec(out, spec).status()["pid"]), sig)
            events.append("sent")
    return on_event


def eval_steps(events: list) -> list[int]:
    return [e["t_env"] for e in events if isinstance(e, dict) and e["type"] == "eval"]


def ends(events: list) -> list[tuple[str, str]]:
    return [(e["status"], e["reason"]) for e in events if isinstance(e, dict) and e["type"] == "end"]


def lifecycle(events: list) -> list[str]:
    return [e["type"] for e in events if isinstance(e, dict) and e["type"] in ("start", "retry", "end")]


def test_slurm_local_gives_the_inline_records_and_events(suite, specs, reference, tmp_path):
    out, tracker = tmp_path / "out", RecordingTracker()
    options = ExecutorOptions(resources=suite.resources, slurm_cluster="local", slurm_folder=tmp_path / "submitit")
    outcome = run_specs(specs, out, suite_name=suite.name, executor="slurm", tracker_factory=lambda: tracker,
                        group_seeds=False, executor_options=options)   # one array task per run
    assert sorted(outcome.done) == sorted(s.run_id for s in specs) and not outcome.failed
    expected, inline_tracker = reference
    for s in specs:
        assert records(out, s) == expected[s.run_id], s.label
        assert RunFiles.for_spec(out, s).status()["status"] == DONE
    assert tracker.evaluations == inline_tracker.evaluations   # driver-side MLflow: the same calls
    assert sorted(tracker.synced) == sorted(s.run_id for s in specs)
    assert len(list((tmp_path / "submitit").glob("*_log.out"))) == 2


def test_a_task_stopped_at_its_time_limit_is_requeued_and_resumes(specs, reference, tmp_path):
    spec, out, events = specs[0], tmp_path / "out", []
    results = executor(tmp_path, max_requeues=2).run([[spec]], out, signal_after_first_checkpoint(
        out, spec, signal.SIGUSR2, events))
    assert results == [{"run_id": spec.run_id, "status": DONE, "reason": ""}]
    status = RunFiles.for_spec(out, spec).status()
    assert status["requeues"] == 1 and status["resumed"] is True
    assert records(out, spec) == reference[0][spec.run_id]      # nothing lost, nothing twice
    assert eval_steps(events) == sorted({r["step"] for r in reference[0][spec.run_id][0]})
    assert ends(events) == [(DONE, "")]
    assert lifecycle(events) == ["start", "retry", "start", "end"]   # the progress display sees the requeue
    assert "this job is timed-out" in next((tmp_path / "submitit").glob("*_log.err")).read_text()


def test_a_task_past_max_requeues_records_its_runs_failed(specs, tmp_path):
    spec, out, events = specs[0], tmp_path / "out", []
    results = executor(tmp_path, max_requeues=0).run([[spec]], out, signal_after_first_checkpoint(
        out, spec, signal.SIGUSR2, events))
    assert results[0]["status"] == FAILED and "max_requeues=0" in results[0]["reason"]
    status = RunFiles.for_spec(out, spec).status()
    assert status["status"] == FAILED and status["reason"] == results[0]["reason"] and status["requeues"] == 0
    assert ends(events) == [(FAILED, results[0]["reason"])]
    assert lifecycle(events) == ["start", "end"]


def test_a_killed_task_fails_its_runs_and_a_rerun_resumes_them(specs, reference, tmp_path):
    spec, out, events = specs[1], tmp_path / "out", []
    results = executor(tmp_path, max_requeues=2).run([[spec]], out, signal_after_first_checkpoint(
        out, spec, signal.SIGKILL, events))
    assert results[0]["status"] == FAILED and "without finishing the run" in results[0]["reason"]
    assert (RunFiles.for_spec(out, spec).root / "error.txt").is_file()
    # the killed task's run lock is gone with its process: a new submission resumes the run
    results = executor(tmp_path, max_requeues=2).run([[spec]], out, [].append)
    assert results == [{"run_id": spec.run_id, "status": DONE, "reason": ""}]
    assert RunFiles.for_spec(out, spec).status()["resumed"] is True
    assert records(out, spec) == reference[0][spec.run_id]
