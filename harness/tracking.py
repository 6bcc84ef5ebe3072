"""MLflow tracking: one experiment per suite, one MLflow run per run id, mirrored from the run files.

Only the parent process writes to MLflow (workers write run files and send events), so a local
SQLite store never sees concurrent writers. Syncing is idempotent: a run is brought up to date from
its files whenever the harness sees it, so a killed parent loses nothing.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from harness.store import DONE, FAILED, RunFiles
from harness.spec import RunSpec

RUN_ID_TAG = "harness.run_id"
STATUS_TAG = "harness.status"


def default_tracking_uri(out_dir: Path) -> str:
    return f"sqlite:///{(Path(out_dir) / 'mlflow.db').resolve()}"


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)


class Tracker:
    """Mirror run files into an MLflow tracking store (local SQLite by default)."""

    def __init__(self, out_dir: Path, suite: str, tracking_uri: str | None = None,
                 provenance: dict[str, str] | None = None) -> None:
        os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
        from mlflow.tracking import MlflowClient  # lazy: importing mlflow takes seconds

        for name in ("alembic", "mlflow"):  # after the import: mlflow sets its loggers up when imported
            logging.getLogger(name).setLevel(logging.WARNING)

        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.uri = tracking_uri or default_tracking_uri(self.out_dir)
        self.client = MlflowClient(tracking_uri=self.uri)
        self.provenance = provenance or {}
        artifacts = (self.out_dir / "mlartifacts").resolve().as_uri() if tracking_uri is None else None
        self.experiment_id = self._experiment(suite, artifacts)
        self._mlflow_ids: dict[str, str] = {}
        self._logged_step: dict[str, int] = {}

    def _experiment(self, suite: str, artifacts: str | None) -> str:
        """The suite's experiment id, created if missing. Several harness processes sharing one
        tracking server may create it at once: the loser of that race takes the winner's."""
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(suite)
        if exp is not None:
            return exp.experiment_id
        try:
            return self.client.create_experiment(suite, artifact_location=artifacts)
        except MlflowException:
            exp = self.client.get_experiment_by_name(suite)
            if exp is None:
                raise
            return exp.experiment_id

    def mlflow_run_id(self, spec: RunSpec) -> str:
        """The MLflow run of a harness run, created with params and provenance tags on first sight."""
        if spec.run_id in self._mlflow_ids:
            return self._mlflow_ids[spec.run_id]
        found = self.client.search_runs([self.experiment_id], f"tags.`{RUN_ID_TAG}` = '{spec.run_id}'",
                                        max_results=1)
        if found:
            mid = found[0].info.run_id
            history = self.client.get_metric_history(mid, "train/win_rate")
            self._logged_step[spec.run_id] = max((m.step for m in history), default=-1)
        else:
            tags = {RUN_ID_TAG: spec.run_id, STATUS_TAG: "running", "algorithm": spec.row_name,
                    "scenario": spec.scenario, "seed": str(spec.seed)}
            tags |= {f"provenance.{k}": str(v) for k, v in self.provenance.items()}
            run = self.client.create_run(self.experiment_id, tags=tags, run_name=spec.label)
            mid = run.info.run_id
            params: dict[str, str] = {}
            _flatten("", spec.to_dict(), params)
            from mlflow.entities import Param

            items = [Param(k, v[:6000]) for k, v in sorted(params.items())]
            for i in range(0, len(items), 100):
                self.client.log_batch(mid, params=items[i:i + 100])
            self._logged_step[spec.run_id] = -1
        self._mlflow_ids[spec.run_id] = mid
        return mid

    def log_evaluations(self, spec: RunSpec, summary: list[dict], train: dict[str, float] | None = None) -> None:
        """Log evaluation aggregates (``<eval_set>/<metric>``, composition "all") not yet in MLflow."""
        from mlflow.entities import Metric

        mid = self.mlflow_run_id(spec)
        last = self._logged_step.get(spec.run_id, -1)
        now = int(time.time() * 1000)
        metrics = []
        for row in summary:
            if row["step"] <= last or row["composition"] != "all":
                continue
            for key in ("win_rate", "return_mean", "episode_length"):
                metrics.append(Metric(f"{row['eval_set']}/{key}", float(row[key]), now, int(row["step"])))
        if not metrics:
            return
        step = max(m.step for m in metrics)
        for k, v in (train or {}).items():
            metrics.append(Metric(f"learner/{k}", float(v), now, step))
        for i in range(0, len(metrics), 500):
            self.client.log_batch(mid, metrics=metrics[i:i + 500])
        self._logged_step[spec.run_id] = step

    def log_posthoc(self, files: RunFiles, summary: list[dict]) -> None:
        """Log what `harness evaluate` added to a finished run: ``<eval_set>/<metric>`` (composition
        "all") at the checkpoint's step, and the run's post-hoc files as artifacts."""
        from mlflow.entities import Metric

        mid = self.mlflow_run_id(files.spec())
        now = int(time.time() * 1000)
        metrics = [Metric(f"{row['eval_set']}/{key}", float(row[key]), now, int(row["step"]))
                   for row in summary if row["composition"] == "all"
                   for key in ("win_rate", "return_mean", "episode_length")]
        for i in range(0, len(metrics), 500):
            self.client.log_batch(mid, metrics=metrics[i:i + 500])
        for path in (files.posthoc_path, files.posthoc_episodes_path, files.posthoc_evals_path):
            if path.exists():
                self.client.log_artifact(mid, str(path))

    def sync(self, files: RunFiles) -> None:
        """Bring a run's MLflow record up to date with its files (evaluations, status, artifacts)."""
        spec = files.spec()
        status = files.status()
        mid = self.mlflow_run_id(spec)
        self.log_evaluations(spec, RunFiles.read_jsonl(files.evals_path))
        tags = {STATUS_TAG: status["status"], "failure_reason": status.get("reason", "") or "",
                "device": str(status.get("device", "")), "simulator": str(status.get("simulator", ""))}
        for k, v in tags.items():
            self.client.set_tag(mid, k, v)
        if status["status"] == DONE:
            for name, value in (status.get("speed") or {}).items():
                self.client.log_metric(mid, f"speed.{name}", float(value))
        if status["status"] in (DONE, FAILED):
            for path in (files.spec_path, files.episodes_path, files.evals_path, files.train_path,
                         files.root / "error.txt"):
                if path.exists():
                    self.client.log_artifact(mid, str(path))
            self.client.set_terminated(mid, "FINISHED" if status["status"] == DONE else "FAILED")
            files.set_status(status["status"], synced=True)
