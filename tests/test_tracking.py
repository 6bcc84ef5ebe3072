"""Every run is mirrored into MLflow: params = resolved spec, metrics over steps, status and provenance
tags, per-episode records as an artifact; a parent that died before syncing is caught up on re-run."""
import json

from mlflow.tracking import MlflowClient

from harness.runner.suite_runner import run_specs
from harness.spec import RunSpec
from harness.tracking import RUN_ID_TAG, Tracker, default_tracking_uri


def _spec(seed):
    return RunSpec(suite="tracked", algorithm="vdn", algorithm_config={"batch_size": 8}, scenario="iac_matrix",
                   seed=seed, budget_env_steps=400, eval_interval=200, eval_episodes=8, device="cpu")


def test_runs_are_tracked_with_params_metrics_tags_and_artifacts(tmp_path):
    specs = [_spec(0), _spec(1)]
    prov = {"git_commit": "abc123", "version.torch": "2.x"}
    run_specs(specs, tmp_path, suite_name="tracked", executor="inline",
              tracker_factory=lambda: Tracker(tmp_path, "tracked", provenance=prov))
    client = MlflowClient(default_tracking_uri(tmp_path))
    exp = client.get_experiment_by_name("tracked")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags[RUN_ID_TAG] for r in runs) == sorted(s.run_id for s in specs)
    run = next(r for r in runs if r.data.tags[RUN_ID_TAG] == specs[0].run_id)
    assert run.data.tags["harness.status"] == "done" and run.info.status == "FINISHED"
    assert run.data.tags["provenance.git_commit"] == "abc123"
    assert run.data.params["seed"] == "0" and run.data.params["algorithm_config.batch_size"] == "8"
    history = client.get_metric_history(run.info.run_id, "train/win_rate")
    assert [m.step for m in history] == [0, 200, 400]
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"episodes.jsonl", "evals.jsonl", "spec.json"} <= arts
    statuses = [json.loads((tmp_path / "runs" / s.run_id / "status.json").read_text()) for s in specs]
    assert all(st["synced"] for st in statuses)


def test_runs_finished_without_tracking_are_synced_on_next_invocation(tmp_path):
    specs = [_spec(0)]
    run_specs(specs, tmp_path, suite_name="tracked", executor="inline")  # e.g. parent killed before syncing
    outcome = run_specs(specs, tmp_path, suite_name="tracked", executor="inline",
                        tracker_factory=lambda: Tracker(tmp_path, "tracked"))
    assert outcome.skipped == 1
    client = MlflowClient(default_tracking_uri(tmp_path))
    runs = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    assert len(runs) == 1
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "train/win_rate")] == [0, 200, 400]


def test_a_process_that_loses_the_race_to_create_the_experiment_joins_it(tmp_path, monkeypatch):
    """Several harness processes on one tracking server: another creates the suite's experiment
    between this one's lookup and its create call (create then fails with "already exists")."""
    from mlflow.exceptions import MlflowException

    winner = Tracker(tmp_path, "raced")
    looked_up = []
    real_get = MlflowClient.get_experiment_by_name

    def late_lookup(self, name):
        looked_up.append(name)
        return None if len(looked_up) == 1 else real_get(self, name)   # the first lookup predates the winner

    def create_taken(self, name, artifact_location=None, tags=None):
        raise MlflowException(f"Experiment '{name}' already exists.")

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", late_lookup)
    monkeypatch.setattr(MlflowClient, "create_experiment", create_taken)
    loser = Tracker(tmp_path, "raced")
    assert loser.experiment_id == winner.experiment_id and len(looked_up) == 2
