"""`harness evaluate`: a finished suite's final checkpoints play new evaluation sets without any
training; the results land in the run folders (the training records untouched), in MLflow and in the
report."""
from __future__ import annotations

import json
import textwrap

import mlflow
import pytest

from algorithms.value.q_learning import ValueBased
from harness.cli import main
from harness.envs.base import CompositionSpec
from harness.runner.posthoc import evaluate_run
from harness.spec import RunSpec
from harness.store import RunFiles
from harness.suite import expand, load_suite

SUITE = """\
name: evaluate-e2e
seeds: 2
device: cpu
budget: {env_steps: 400}
training: {n_envs: 8}
evaluation: {interval: 200, episodes: 8}
algorithms: [vdn]
scenarios:
  - name: mipi_matrix
    overrides: {epsilon_anneal_time: 200, batch_size: 8}
    train: {teams: [[A, B], [B, A]]}
    eval: {BB: {teams: [[B, B]]}}
reports:
  - {table: main, metric: final_win_rate, rows: algorithm, columns: [scenario, eval_set], cell: mean_std}
"""
TRAINING_FILES = ("checkpoint.pt", "episodes.jsonl", "evals.jsonl", "train.jsonl", "status.json")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    (root / "suite.yaml").write_text(SUITE)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert main(["run", "suite.yaml", "--no-report"]) == 0
    return root


def _runs(root):
    return [RunFiles.for_spec(root / "runs" / "evaluate-e2e", s) for s in expand(load_suite(root / "suite.yaml"))]


def test_evaluate_adds_a_set_from_the_final_checkpoints_without_training(finished, monkeypatch, capsys):
    root = finished
    before = {(f.root.name, n): (f.root / n).read_bytes() for f in _runs(root) for n in TRAINING_FILES}

    def no_training(*args, **kwargs):
        raise AssertionError("harness evaluate ran a training step")

    monkeypatch.setattr(ValueBased, "train_program", no_training)
    monkeypatch.setattr(ValueBased, "observe", no_training)
    monkeypatch.chdir(root)
    assert main(["evaluate", "suite.yaml", "--eval", "AA={teams: [[A, A]]}"]) == 0
    out = capsys.readouterr().out
    assert "vdn/mipi_matrix/seed0: step 400: AA win_rate=" in out and "2 evaluated" in out
    after = {(f.root.name, n): (f.root / n).read_bytes() for f in _runs(root) for n in TRAINING_FILES}
    assert after == before                     # the training records and the checkpoint are untouched
    for files in _runs(root):
        sets = files.posthoc()
        assert sets["AA"]["steps"] == [400] and sets["AA"]["definition"]["episodes"] == 8
        rows = RunFiles.read_jsonl(files.posthoc_evals_path)
        assert {(r["eval_set"], r["composition"]) for r in rows} == {("AA", "AA"), ("AA", "all")}
        assert len(RunFiles.read_jsonl(files.posthoc_episodes_path)) == 8
    # the report shows the new set beside the suite's own
    table = (root / "reports" / "evaluate-e2e" / "main.md").read_text()
    assert "mipi_matrix / AA" in table and "mipi_matrix / BB" in table
    # and MLflow has it at the checkpoint's step
    client = mlflow.tracking.MlflowClient(f"sqlite:///{root}/runs/evaluate-e2e/mlflow.db")
    exp = client.get_experiment_by_name("evaluate-e2e")
    run = client.search_runs([exp.experiment_id], max_results=1)[0]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "AA/win_rate")] == [400]


def test_evaluating_again_is_up_to_date_and_a_redefined_set_is_refused(finished, monkeypatch, capsys):
    monkeypatch.chdir(finished)
    assert main(["evaluate", "suite.yaml", "--eval", "AA2={teams: [[A, A]]}", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "suite.yaml", "--eval", "AA2={teams: [[A, A]]}", "--no-report"]) == 0
    assert "2 up to date" in capsys.readouterr().out
    assert main(["evaluate", "suite.yaml", "--eval", "AA2={teams: [[A, A]]}", "--episodes", "4",
                 "--no-report"]) == 2
    assert "eval set 'AA2' was evaluated before as" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("BB={teams: [[B, B]]}", "'mipi_matrix' already has an evaluation set 'BB'"),
    ("X={teams: [[A, B]]}", "eval set 'X' shares 1 composition(s) with the training set of 'mipi_matrix': AB"),
    ("X={agents: 3}", "not a valid composition for mipi_matrix"),
    ("X={players: 3}", "SPEC must be a composition mapping"),
    ("3m:X={agents: 3}", "scenario '3m' is not in suite 'evaluate-e2e'"),
    ("X", "expected [SCENARIO:]NAME=SPEC"),
])
def test_bad_evaluation_sets_exit_2_naming_the_text(finished, monkeypatch, capsys, text, message):
    monkeypatch.chdir(finished)
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "suite.yaml", "--eval", text, "--no-report"])
    assert info.value.code == 2
    assert f"--eval {text}: {message}" in capsys.readouterr().err


def test_a_fixed_size_learner_cannot_evaluate_a_larger_team(tmp_path):
    spec = RunSpec(suite="posthoc", algorithm="iql", algorithm_config={"batch_size": 4}, scenario="SZ", seed=0,
                   budget_env_steps=150, eval_interval=1200, eval_episodes=2, n_envs=1, device="cpu",
                   train=CompositionSpec(agents=(3, 3)))
    from harness.runner.loop import execute_run
    assert execute_run(spec, tmp_path, lambda e: None)["status"] == "done"
    with pytest.raises(ValueError, match=r"algorithm 'iql' cannot evaluate 5 on 'SZ': the sets need other shapes "
                                         r"than it was trained with \(n_agents 3 -> 5.*lacks capabilities.variable_team_size"):
        evaluate_run(spec, tmp_path, {"5": CompositionSpec(agents=(5, 5))})
    outcome = evaluate_run(spec, tmp_path, {"3z": CompositionSpec(agents=(3, 3), units=(("zealot", (3, 3)),))})
    final = RunFiles.for_spec(tmp_path, spec).status()["t_env"]    # the budget, rounded up to whole episodes
    assert outcome.status == "evaluated" and outcome.step == final >= 150
    assert json.loads(RunFiles.for_spec(tmp_path, spec).posthoc_path.read_text())["3z"]["steps"] == [final]


def test_unfinished_runs_are_skipped(tmp_path):
    spec = RunSpec(suite="posthoc", algorithm="iql", algorithm_config={}, scenario="mipi_matrix", seed=0,
                   budget_env_steps=100, eval_interval=50, eval_episodes=2, n_envs=1, device="cpu")
    assert evaluate_run(spec, tmp_path, {"x": CompositionSpec(teams=(("B", "B"),))}).status == "skipped"


@pytest.fixture(scope="module")
def snapshotted(tmp_path_factory):
    root = tmp_path_factory.mktemp("snapshots")
    (root / "suite.yaml").write_text(SUITE.replace("training: {n_envs: 8}", "training: {n_envs: 8, snapshot_interval: 200}"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert main(["run", "suite.yaml", "--no-report", "--no-tracking"]) == 0
    return root


def test_snapshots_are_kept_at_their_interval_and_leave_the_run_ids_alone(snapshotted, tmp_path):
    from harness.runner.checkpoint import load_checkpoint, load_snapshot, snapshot_steps
    (tmp_path / "plain.yaml").write_text(SUITE)
    with_snapshots = expand(load_suite(snapshotted / "suite.yaml"))
    assert [s.run_id for s in with_snapshots] == [s.run_id for s in expand(load_suite(tmp_path / "plain.yaml"))]
    for files in _runs(snapshotted):
        assert snapshot_steps(files.root) == [0, 200, 400]
        final, snapshot = load_checkpoint(files.root), load_snapshot(files.root, 400)
        assert snapshot["t_env"] == 400
        agents = final["algorithm"]["learner"]["controller"]
        for name, tensor in agents.items():
            assert (tensor == snapshot["algorithm"]["learner"]["controller"][name]).all(), name
        early = load_snapshot(files.root, 200)["algorithm"]["learner"]["controller"]
        assert any((early[n] != t).any() for n, t in agents.items())    # training moved them since


def test_evaluate_plays_a_chosen_snapshot_and_then_the_final_checkpoint(snapshotted, monkeypatch, capsys):
    def no_training(*args, **kwargs):
        raise AssertionError("harness evaluate ran a training step")

    monkeypatch.setattr(ValueBased, "train_program", no_training)
    monkeypatch.chdir(snapshotted)
    assert main(["evaluate", "suite.yaml", "--eval", "AA={teams: [[A, A]]}", "--checkpoint", "200",
                 "--no-tracking", "--no-report"]) == 0
    assert "vdn/mipi_matrix/seed0: step 200: AA win_rate=" in capsys.readouterr().out
    assert main(["evaluate", "suite.yaml", "--eval", "AA={teams: [[A, A]]}", "--checkpoint", "200",
                 "--no-tracking", "--no-report"]) == 0
    assert "2 up to date" in capsys.readouterr().out
    assert main(["evaluate", "suite.yaml", "--eval", "AA={teams: [[A, A]]}", "--no-tracking"]) == 0
    assert "step 400: AA win_rate=" in capsys.readouterr().out
    for files in _runs(snapshotted):
        assert files.posthoc()["AA"]["steps"] == [200, 400]
        rows = [r for r in RunFiles.read_jsonl(files.posthoc_evals_path) if r["composition"] == "all"]
        assert sorted(r["step"] for r in rows) == [200, 400]
    assert main(["evaluate", "suite.yaml", "--eval", "AA={teams: [[A, A]]}", "--checkpoint", "300",
                 "--no-tracking", "--no-report"]) == 2
    assert "no snapshot at step 300; snapshots kept: 0, 200, 400" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "suite.yaml", "--eval", "AA={teams: [[A, A]]}", "--checkpoint", "last"])
    assert "'last' is neither 'final' nor an env step" in capsys.readouterr().err
