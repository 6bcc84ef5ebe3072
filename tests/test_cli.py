"""End to end from the command line: run a small suite to a report, status, re-run, regress."""
import json
import os
import subprocess
import sys

import pytest

SUITE = """
name: cli-e2e
seeds: 2
device: cpu
budget: {env_steps: 600}
training: {n_envs: 8}
evaluation: {interval: 200, episodes: 8}
algorithms: [vdn, qmix]
scenarios:
  - name: mipi_matrix
    overrides: {epsilon_anneal_time: 300, batch_size: 8}
    train: {teams: [[A, B], [B, A]]}
    eval: {BB: {teams: [[B, B]]}}
reports:
  - {table: main, metric: final_win_rate, rows: algorithm, columns: [scenario, eval_set], cell: mean_std}
"""


def harness(*args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=900)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    (root / "suite.yaml").write_text(SUITE)
    proc = harness("run", "suite.yaml", "--workers", "2", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc


def test_run_writes_tracked_runs_and_a_report(finished):
    root, proc = finished
    assert "report written to reports/cli-e2e" in proc.stdout
    assert "| vdn |" in proc.stdout and "mipi_matrix" in proc.stdout
    report = root / "reports" / "cli-e2e"
    for name in ("main.md", "main.tex", "main.csv", "main.html"):
        assert (report / name).stat().st_size > 0, name
    assert any(p.suffix == ".png" for p in (report / "figures").rglob("*"))
    assert "git_commit" in (report / "main.md").read_text()
    assert (root / "runs" / "cli-e2e" / "mlflow.db").exists()
    manifest = json.loads((root / "runs" / "cli-e2e" / "manifest.json").read_text())
    assert len(manifest["run_ids"]) == 4


def test_status_and_rerun_say_everything_is_done(finished):
    root, _ = finished
    status = harness("status", "suite.yaml", cwd=root)
    assert status.returncode == 0 and "done: 4" in status.stdout
    again = harness("run", "suite.yaml", cwd=root)
    assert again.returncode == 0
    assert "all 4 runs of cli-e2e already done" in again.stdout
    assert "report up to date" in again.stdout


def test_regress_records_a_baseline_and_passes_against_itself(finished):
    root, _ = finished
    rec = harness("regress", "suite.yaml", "--baseline", "base.json", "--record", cwd=root)
    assert rec.returncode == 0, rec.stderr
    check = harness("regress", "suite.yaml", "--baseline", "base.json", cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no significant regression" in check.stdout


def test_bad_suite_exits_2_with_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "bad.yaml").write_text(SUITE.replace("seeds: 2", "seeds: 0"))
    proc = harness("run", "bad.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "bad.yaml:3: seeds:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "reports").exists()


def test_schema_is_printed_as_json(tmp_path):
    proc = harness("schema", cwd=tmp_path)
    schema = json.loads(proc.stdout)
    assert "properties" in schema and "algorithms" in schema["properties"]


def test_marl_eval_export_imports_back_to_the_same_table(finished):
    root, _ = finished
    exported = root / "reports" / "cli-e2e" / "marl_eval.json"
    data = json.loads(exported.read_text())
    run = data["matrix"]["mipi_matrix"]["vdn"]["run_0"]
    assert run["step_0"]["step_count"] == 0 and "win_rate" in run["absolute_metrics"]
    proc = harness("import-marl-eval", str(exported), "--name", "back", cwd=root)
    assert proc.returncode == 0, proc.stderr
    ours = [line for line in (root / "reports" / "cli-e2e" / "main.md").read_text().splitlines()
            if line.startswith("| vdn") or line.startswith("| qmix")]
    back = [line for line in (root / "reports" / "back" / "main.md").read_text().splitlines()
            if line.startswith("| vdn") or line.startswith("| qmix")]
    assert sorted(ours) == sorted(back)


def test_run_without_groups_gives_the_grouped_run_records(finished):
    """`--no-group-seeds` trains each seed alone; the records equal the grouped run's (the default)."""
    root, _ = finished
    proc = harness("run", "suite.yaml", "--no-group-seeds", "--workers", "2", "--out", "alone", "--no-report",
                   "--no-tracking", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    grouped = sorted((root / "runs" / "cli-e2e" / "runs").iterdir())
    assert grouped and [d.name for d in grouped] == sorted(d.name for d in (root / "alone" / "runs").iterdir())
    for d in grouped:
        assert (root / "alone" / "runs" / d.name / "episodes.jsonl").read_text() == (d / "episodes.jsonl").read_text()
