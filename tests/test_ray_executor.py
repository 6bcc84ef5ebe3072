"""The Ray executor on a local cluster: the same records as inline, events reach the driver, a
worker killed mid-run is retried from its checkpoint without losing or repeating an evaluation,
with and without a shared file system, and a run past its retries is recorded failed."""
import io
import os
import signal
import tempfile
from pathlib import Path

import pytest
from rich.console import Console

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.scale

from harness.runner import suite_runner  # noqa: E402
from harness.runner.executors import ExecutorOptions  # noqa: E402
from harness.runner.progress import SuiteProgress  # noqa: E402
from harness.runner.ray_executor import RayExecutor, connect, placement  # noqa: E402
from harness.runner.suite_runner import run_specs  # noqa: E402
from harness.store import RunFiles  # noqa: E402
from harness.suite import expand, load_suite  # noqa: E402
from harness.suite.models import Resources  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "suites" / "quickstart.yaml"
SMALL = ["seeds=2", "algorithms=[qmix]", "scenarios=[climbing,mipi_matrix]", "budget.env_steps=400",
         "evaluation.interval=200", "evaluation.episodes=8"]
# long enough after the kill (at the evaluation of step 400) that the kill lands mid-run
LONG = ["seeds=2", "algorithms=[vdn]", "scenarios=[climbing]", "budget.env_steps=1000",
        "evaluation.interval=200", "evaluation.episodes=8"]
KILL_AT = 400


def _specs(overrides):
    suite = load_suite(QUICKSTART, overrides)
    return suite, expand(suite)


def _records(out: Path, specs) -> dict[str, tuple[list[dict], str]]:
    """Each run's evaluation summaries and per-episode records."""
    recs = {}
    for s in specs:
        files = RunFiles.for_spec(out, s)
        recs[s.run_id] = (RunFiles.read_jsonl(files.evals_path), files.episodes_path.read_text())
    return recs


def _status(out: Path, spec) -> dict:
    return RunFiles.for_spec(out, spec).status()


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module (2 CPUs); every executor here joins it rather than start its own."""
    started = connect(None, num_cpus=2)
    yield
    if started:
        ray.shutdown()


def _inline_reference(tmp_path_factory, overrides: list[str], name: str):
    """The shrunk quickstart run inline: (suite, specs, records) the Ray runs are compared with."""
    suite, specs = _specs(overrides)
    out = tmp_path_factory.mktemp(name)
    assert len(run_specs(specs, out, suite_name=suite.name, executor="inline").done) == len(specs)
    return suite, specs, _records(out, specs)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return _inline_reference(tmp_path_factory, SMALL, "inline-small")


@pytest.fixture(scope="module")
def long(tmp_path_factory):
    return _inline_reference(tmp_path_factory, LONG, "inline-long")


class _Tracker:
    """Records what the driver mirrors (MLflow's calls, without MLflow)."""

    def __init__(self) -> None:
        self.steps: dict[str, set[int]] = {}
        self.synced: list[str] = []

    def log_evaluations(self, spec, summary, train=None):
        self.steps.setdefault(spec.run_id, set()).update(r["step"] for r in summary)

    def sync(self, files):
        self.synced.append(files.root.name)


class _Killer:
    """Wraps the executor: SIGKILLs the worker running a run when the driver sees that run's
    evaluation at KILL_AT or later, once per worker process (``every`` attempt, or the first only)."""

    def __init__(self, executor: RayExecutor, every: bool = False) -> None:
        self.executor, self.every = executor, every
        self.killed: list[int] = []
        self.events: list[dict] = []

    def run(self, groups, out_dir, on_event):
        def watch(event):
            self.events.append(event)
            on_event(event)
            if event["type"] != "eval" or event["t_env"] < KILL_AT or (self.killed and not self.every):
                return
            pid = RunFiles(Path(out_dir) / "runs" / event["run_id"]).status().get("pid")
            if pid and pid not in self.killed:
                self.killed.append(pid)
                os.kill(pid, signal.SIGKILL)
        return self.executor.run(groups, out_dir, watch)


def _run_with(monkeypatch, executor, specs, out, suite_name, workers=2, **kw):
    monkeypatch.setattr(suite_runner, "make_executor", lambda *a, **k: executor)
    return run_specs(specs, out, suite_name=suite_name, workers=workers, **kw)


# -- pure parts ----------------------------------------------------------------------------------
def test_placement_asks_gpus_only_for_cuda_runs():
    assert placement("cpu", 4, 2) == (0.0, None)
    assert placement("auto", 0, 2) == (0.0, "cpu")
    assert placement("auto", 4, 2) == (0.5, "cuda")
    assert placement("cuda:1", 4, 4) == (0.25, "cuda")


def test_progress_counts_retries_and_prints_a_line(capsys):
    _, specs = _specs(SMALL)
    progress = SuiteProgress("s", specs[:1], already_done=0, console=Console(file=io.StringIO()))  # not a terminal
    rid = specs[0].run_id
    progress.handle({"type": "start", "run_id": rid, "label": specs[0].label})
    progress.handle({"type": "retry", "run_id": rid, "attempt": 1, "reason": "WorkerCrashedError: died"})
    assert progress.retries == 1 and not progress.active and progress.pending == 1
    assert f"{specs[0].label}: retry 1 (WorkerCrashedError: died)" in capsys.readouterr().err
    assert "1 retry" in progress._render().title


def test_status_shows_retries(tmp_path, capsys, monkeypatch):
    from harness.cli import main

    monkeypatch.setenv("COLUMNS", "200")   # the whole table on one line per run

    suite = tmp_path / "s.yaml"
    suite.write_text(QUICKSTART.read_text())
    specs = expand(load_suite(suite))
    files = RunFiles.for_spec(tmp_path / "out", specs[0])
    files.create(specs[0])
    files.set_status("done", retries=2)
    assert main(["status", str(suite), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "run id" in line)
    row = next(line for line in out.splitlines() if specs[0].run_id in line)
    assert header.split("┃")[5].strip() == "retries" and row.split("│")[5].strip() == "2"
    assert "(1 retried after a worker died or a time limit)" in out


# -- on the cluster ------------------------------------------------------------------------------
def test_ray_gives_the_inline_records_and_the_driver_gets_every_event(cluster, small, tmp_path):
    suite, specs, reference = small
    tracker = _Tracker()
    outcome = run_specs(specs, tmp_path, suite_name=suite.name, workers=2, executor="ray",
                        tracker_factory=lambda: tracker, executor_options=ExecutorOptions(resources=suite.resources))
    assert sorted(outcome.done) == sorted(s.run_id for s in specs) and not outcome.failed
    assert _records(tmp_path, specs) == reference
    assert sorted(tracker.synced) == sorted(s.run_id for s in specs)          # the driver mirrored each run
    assert all(tracker.steps[s.run_id] == {0, 200, 400} for s in specs)       # from eval events as they came


def test_no_shared_fs_gives_the_same_records(cluster, small, tmp_path, monkeypatch):
    suite, specs, reference = small
    outcome = _run_with(monkeypatch, RayExecutor(2, suite.resources, shared_fs=False), specs, tmp_path, suite.name)
    assert sorted(outcome.done) == sorted(s.run_id for s in specs)
    assert _records(tmp_path, specs) == reference
    run_dir = RunFiles.for_spec(tmp_path, specs[0]).root
    assert (run_dir / "checkpoint.pt").exists() and not list(run_dir.glob("*.tmp"))


@pytest.mark.parametrize("shared_fs", [True, False], ids=["shared-fs", "no-shared-fs"])
def test_a_killed_worker_is_retried_from_its_checkpoint(cluster, long, tmp_path, monkeypatch, shared_fs):
    suite, specs, reference = long
    killer = _Killer(RayExecutor(1, suite.resources, shared_fs=shared_fs))
    outcome = _run_with(monkeypatch, killer, specs, tmp_path, suite.name, workers=1)   # one group, one task
    assert len(killer.killed) == 1                          # both seeds train in the one killed task
    assert sorted(outcome.done) == sorted(s.run_id for s in specs) and not outcome.failed
    retries = [e for e in killer.events if e["type"] == "retry"]
    assert sorted(e["run_id"] for e in retries) == sorted(s.run_id for s in specs)
    assert all(e["attempt"] == 1 and e["reason"].startswith("WorkerCrashedError") for e in retries)
    assert _records(tmp_path, specs) == reference          # no evaluation lost or repeated
    for s in specs:
        st = _status(tmp_path, s)
        assert st["status"] == "done" and st["retries"] == 1 and st["resumed"] is True
    # the killed worker's node-local folder is swept by the retry
    assert not list(Path(tempfile.gettempdir()).glob(f"harness-ray-{killer.killed[0]}-*"))


def test_a_run_past_its_retries_is_failed_with_the_reason(cluster, long, tmp_path, monkeypatch):
    suite, specs, _ = long
    resources = Resources(max_retries=1)
    killer = _Killer(RayExecutor(1, resources), every=True)   # kills each attempt
    outcome = _run_with(monkeypatch, killer, specs[:1], tmp_path, suite.name, workers=1)
    assert len(killer.killed) == 2 and not outcome.done
    assert [label for label, _ in outcome.failed] == [specs[0].label]
    st = _status(tmp_path, specs[0])
    assert st["status"] == "failed" and st["retries"] == 1
    assert st["reason"].startswith("worker died 2 times (max_retries 1): WorkerCrashedError")
