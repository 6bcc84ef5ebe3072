"""`harness server`: one MLflow tracking server, eight harness processes writing to it at once;
afterwards every run, every evaluation metric and every artifact is there."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.server import LOCAL, ServerConfig, free_port, wait_until_up
from harness.store import RunFiles

pytestmark = pytest.mark.scale
N_PROCESSES = 8
SUITE = """
name: shared-server
seeds: 8
device: cpu
budget: {env_steps: 400}
evaluation: {interval: 100, episodes: 4}
algorithms: [iql]
scenarios: [climbing]
"""


ENV = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")


@pytest.fixture
def server(tmp_path):
    """A `harness server` on a free port over a fresh store; its address."""
    port = free_port()
    uri = f"http://{LOCAL}:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "server", "--store", str(tmp_path / "store"),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=ENV)
    try:
        wait_until_up(uri, timeout=120)
        yield uri
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _assert_everything_tracked(uri: str, experiment: str, out: Path, n_runs: int) -> None:
    """Every run of `experiment` is done and has each evaluation metric at every evaluated step and
    its record files as artifacts, as its run folder under `out` has them."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == n_runs and {r.data.tags["harness.status"] for r in runs} == {"done"}
    for run in runs:
        files = RunFiles(out / "runs" / run.data.tags["harness.run_id"])
        steps = sorted(e["step"] for e in RunFiles.read_jsonl(files.evals_path) if e["composition"] == "all")
        for metric in ("win_rate", "return_mean", "episode_length"):
            assert sorted(m.step for m in client.get_metric_history(run.info.run_id, f"train/{metric}")) == steps
        assert {"spec.json", "evals.jsonl", "episodes.jsonl"} <= {a.path for a in client.list_artifacts(run.info.run_id)}


def test_the_server_binds_to_this_machine_unless_told_otherwise(tmp_path):
    cmd = ServerConfig(store=tmp_path).command()
    assert cmd[cmd.index("--host") + 1] == LOCAL and "--allowed-hosts" not in cmd
    assert cmd[cmd.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert "--serve-artifacts" in cmd


def test_eight_processes_writing_to_one_server_lose_no_metric_or_artifact(tmp_path, server):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    # each process runs one seed, under one suite name, so all eight share one experiment
    procs = [subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "--set", f"seeds=[{i}]",
                               "--set", "name=shared-server", "--out", str(tmp_path / "runs"), "--no-report",
                               "--tracking-uri", server], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=ENV) for i in range(N_PROCESSES)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(outputs)
    _assert_everything_tracked(server, "shared-server", tmp_path / "runs", N_PROCESSES)


def test_a_process_pool_driver_and_a_ray_driver_write_to_one_server_at_once(tmp_path, server):
    """Eight runs at once: four in a local process pool, four as Ray tasks, two drivers, one server."""
    pytest.importorskip("ray")
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    drivers = {executor: subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(suite), "--set", f"seeds={seeds}", "--set",
         f"name=shared-{executor}", "--executor", executor, "--workers", "4", "--no-group-seeds",
         "--out", str(tmp_path / executor), "--no-report", "--tracking-uri", server],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
        for executor, seeds in (("process", "[0, 1, 2, 3]"), ("ray", "[4, 5, 6, 7]"))}
    outputs = {k: p.communicate(timeout=900)[0] for k, p in drivers.items()}
    assert all(p.returncode == 0 for p in drivers.values()), outputs
    for executor in drivers:
        _assert_everything_tracked(server, f"shared-{executor}", tmp_path / executor, 4)
