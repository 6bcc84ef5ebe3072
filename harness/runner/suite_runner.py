"""Run a whole suite: expand, skip finished runs, resume unfinished ones, track, show progress."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.runner.executors import ExecutorOptions, make_executor
from harness.runner.groups import plan_groups
from harness.runner.progress import SuiteProgress
from harness.store import BUSY, DONE, FAILED, PENDING, RUNNING, RunFiles
from harness.spec import RunSpec


@dataclass
class SuiteOutcome:
    total: int
    skipped: int
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)   # runs another process was executing
    interrupted: bool = False


def run_statuses(out_dir: Path, specs: list[RunSpec]) -> dict[str, dict]:
    """Status record of every expanded run (``pending`` if it never started)."""
    return {s.run_id: RunFiles.for_spec(out_dir, s).status() for s in specs}


def write_manifest(out_dir: Path, suite_name: str, suite_path: Path, suite_hash: str,
                   specs: list[RunSpec], provenance: dict) -> None:
    """The suite's expansion and provenance, next to its runs (read by `status` and `report`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"suite": suite_name, "suite_path": str(suite_path), "suite_hash": suite_hash,
                "run_ids": [s.run_id for s in specs], "provenance": provenance}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


def run_specs(specs: list[RunSpec], out_dir: Path, *, suite_name: str, workers: int = 1,
              executor: str = "auto", tracker_factory: Callable[[], object] | None = None,
              retry_failed: bool = False, group_seeds: bool = True,
              executor_options: ExecutorOptions | None = None) -> SuiteOutcome:
    """Execute every spec not yet done; finished runs are skipped, unfinished ones resume. With
    ``group_seeds`` the runs that differ only in their seed train together as run groups."""
    statuses = run_statuses(out_dir, specs)
    skip = {DONE} | (set() if retry_failed else {FAILED})
    todo = [s for s in specs if statuses[s.run_id]["status"] not in skip]
    outcome = SuiteOutcome(total=len(specs), skipped=len(specs) - len(todo))
    tracker = tracker_factory() if tracker_factory is not None and (todo or _unsynced(out_dir, specs, statuses)) else None
    if tracker is not None:
        for s in specs:  # catch up on runs finished while the tracker was not watching
            st = statuses[s.run_id]
            if st["status"] in (DONE, FAILED) and not st.get("synced"):
                tracker.sync(RunFiles.for_spec(out_dir, s))
    if not todo:
        return outcome
    by_id = {s.run_id: s for s in todo}
    progress = SuiteProgress(suite_name, todo, already_done=outcome.skipped)

    def on_event(event: dict) -> None:
        progress.handle(event)
        spec = by_id.get(event["run_id"])
        if spec is None:
            return
        if event["type"] == "eval" and tracker is not None:
            tracker.log_evaluations(spec, event["summary"], event.get("train"))
        elif event["type"] == "end":
            if tracker is not None and event["status"] != BUSY:
                tracker.sync(RunFiles.for_spec(out_dir, spec))
            if event["status"] == DONE:
                outcome.done.append(spec.run_id)
            elif event["status"] == BUSY:
                outcome.busy.append(spec.label)
            else:
                outcome.failed.append((spec.label, event.get("reason", "")))

    try:
        with progress:
            make_executor(executor, workers, executor_options).run(plan_groups(todo, group_seeds, workers),
                                                                   out_dir, on_event)
    except KeyboardInterrupt:
        outcome.interrupted = True
    return outcome


def _unsynced(out_dir: Path, specs: list[RunSpec], statuses: dict[str, dict]) -> bool:
    return any(st["status"] in (DONE, FAILED) and not st.get("synced") for st in statuses.values())


STATUS_ORDER = (DONE, RUNNING, FAILED, PENDING)
