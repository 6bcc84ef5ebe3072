"""The tidy frame: every evaluation aggregate of a suite's runs, one row per value.

Columns: suite, algorithm, scenario, eval_set, composition, seed, step, metric, value, run_id, status.
Read from the run files the tracker mirrors into MLflow (so it works offline and with any store).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.store import PENDING, RunFiles
from harness.spec import RunSpec

FRAME_COLUMNS = ["suite", "algorithm", "scenario", "eval_set", "composition", "seed", "step", "metric",
                 "value", "run_id", "status"]
METRICS = ("win_rate", "return_mean", "episode_length")
# what a finished run records about its speed (harness.runner.timing.speed_record)
SPEED_COLUMNS = ("steps_per_second", "collect_steps_per_second", "learn_steps_per_second", "collect_seconds",
                 "learn_seconds", "eval_seconds", "peak_rss_mb", "peak_cuda_mb")


def manifest(out_dir: Path) -> dict:
    path = Path(out_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the suite first (harness run SUITE --out {out_dir})")
    return json.loads(path.read_text())


def _run_files(out_dir: Path, run_ids: list[str] | None) -> list[tuple[str, RunFiles]]:
    ids = run_ids if run_ids is not None else manifest(out_dir)["run_ids"]
    return [(rid, RunFiles(Path(out_dir) / "runs" / rid)) for rid in ids]


def load_runs(out_dir: Path, run_ids: list[str] | None = None, specs: list[RunSpec] | None = None) -> pd.DataFrame:
    """One row per run of the suite: id, algorithm, scenario, seed, status, reason, device, simulator,
    and for finished runs their speed (SPEED_COLUMNS; NaN for runs that recorded none)."""
    known = {s.run_id: s for s in specs or []}
    rows = []
    for rid, files in _run_files(out_dir, run_ids if run_ids is not None else (list(known) or None)):
        spec = known.get(rid) or (files.spec() if files.spec_path.exists() else None)
        status = files.status()
        if spec is None:
            continue
        rows.append({"run_id": rid, "suite": spec.suite, "algorithm": spec.row_name, "scenario": spec.scenario,
                     "seed": spec.seed, "status": status.get("status", PENDING), "reason": status.get("reason", ""),
                     "device": status.get("device", ""), "simulator": status.get("simulator", ""),
                     "t_env": status.get("t_env"), "wall_seconds": status.get("wall_seconds"),
                     "eval_sets": ["train", *spec.eval_sets],
                     **{k: status.get("speed", {}).get(k) for k in SPEED_COLUMNS}})
    return pd.DataFrame(rows, columns=["run_id", "suite", "algorithm", "scenario", "seed", "status", "reason",
                                       "device", "simulator", "t_env", "wall_seconds", "eval_sets",
                                       *SPEED_COLUMNS])


def load_frame(out_dir: Path, run_ids: list[str] | None = None) -> pd.DataFrame:
    """The tidy frame of all evaluations recorded so far (partial runs included, flagged by status)."""
    rows = []
    for rid, files in _run_files(out_dir, run_ids):
        if not files.spec_path.exists():
            continue
        spec, status = files.spec(), files.status().get("status", PENDING)
        for ev in RunFiles.read_jsonl(files.evals_path) + RunFiles.read_jsonl(files.posthoc_evals_path):
            for metric in METRICS:
                rows.append((spec.suite, spec.row_name, spec.scenario, ev["eval_set"], ev["composition"],
                             spec.seed, ev["step"], metric, float(ev[metric]), rid, status))
    return pd.DataFrame(rows, columns=FRAME_COLUMNS)


def load_episodes(out_dir: Path, run_ids: list[str] | None = None) -> pd.DataFrame:
    """Every recorded evaluation episode (won, return, length, composition) with its run's keys."""
    frames = []
    for rid, files in _run_files(out_dir, run_ids):
        recs = RunFiles.read_jsonl(files.episodes_path) + RunFiles.read_jsonl(files.posthoc_episodes_path)
        if recs and files.spec_path.exists():
            spec = files.spec()
            df = pd.DataFrame(recs)
            df.insert(0, "run_id", rid)
            df.insert(1, "algorithm", spec.row_name)
            df.insert(2, "scenario", spec.scenario)
            df.insert(3, "seed", spec.seed)
            frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
