"""Export to and import from marl-eval's raw-experiment JSON (instadeepai/marl-eval).

Layout, as marl-eval's README and JsonLogger write it::

    {env: {task: {algo: {run: {
        "step_0": {"step_count": int, "elapsed_time": float, metric: [values]},
        ...,
        "step_k": {...},
        "absolute_metrics": {metric: [values]},
    }}}}}

Steps are numbered from 0 in evaluation order; marl-eval reads the run's last key as the absolute
metrics, so "absolute_metrics" is written last. Our mapping: env = the environment family, task =
scenario (with "@eval_set" appended when the evaluation set is not "train"), algo = algorithm,
run = "run_{seed}". Only the "all" composition (the aggregate over an evaluation set) of finished
runs is exported; each metric list holds one element, the evaluation's mean. absolute_metrics holds
our final metrics (mean of the last k evaluations) — not marl-eval's separate 10×-episode
evaluation of the best policy, which the harness does not run. The tidy frame has no wall-clock
time, so elapsed_time is taken from an `elapsed_time` column when present and is 0.0 otherwise.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.metrics import final_value

TRAIN_EVAL_SET = "train"
TASK_SEP = "@"
ALL_COMPOSITIONS = "all"
ABSOLUTE_METRICS = "absolute_metrics"
STEP_COUNT = "step_count"
ELAPSED_TIME = "elapsed_time"
TIDY_COLUMNS = ["suite", "algorithm", "scenario", "eval_set", "composition", "seed", "step", "metric",
                "value", "run_id", "status"]

_STEP_KEY = re.compile(r"^step_(\d+)$", re.IGNORECASE)
_TRAILING_INT = re.compile(r"(-?\d+)$")


def task_name(scenario: str, eval_set: str) -> str:
    """marl-eval task of a scenario and evaluation set: the scenario, plus "@eval_set" unless train."""
    return str(scenario) if eval_set == TRAIN_EVAL_SET else f"{scenario}{TASK_SEP}{eval_set}"


def split_task(task: str) -> tuple[str, str]:
    """Inverse of `task_name`: (scenario, eval_set)."""
    scenario, sep, eval_set = str(task).rpartition(TASK_SEP)
    return (scenario, eval_set) if sep else (str(task), TRAIN_EVAL_SET)


def to_marl_eval(frame: pd.DataFrame, env_name: str = "combat",
                 metric: str | Sequence[str] = "win_rate", k: int = 1,
                 statuses: Sequence[str] = ("done",)) -> dict[str, Any]:
    """marl-eval JSON data (a nested dict) of the runs in a tidy frame.

    `metric` is one tidy metric name or several; runs whose status is not in `statuses` are left
    out (marl-eval cannot represent failed runs; reports list them).
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    data = frame[(frame["composition"] == ALL_COMPOSITIONS) & frame["metric"].isin(metrics)
                 & frame["status"].isin(list(statuses))]
    data = data[np.isfinite(data["value"].to_numpy(dtype=float))]
    tasks: dict[str, Any] = {}
    keys = ["scenario", "eval_set", "algorithm", "seed"]
    for (scenario, eval_set, algorithm, seed), run in data.groupby(keys, sort=True):
        run_dict: dict[str, Any] = {}
        for i, (step, at_step) in enumerate(run.groupby("step", sort=True)):
            entry: dict[str, Any] = {STEP_COUNT: int(step), ELAPSED_TIME: _elapsed(at_step)}
            for name in metrics:
                values = at_step.loc[at_step["metric"] == name, "value"]
                if len(values):
                    entry[name] = [float(values.mean())]
            run_dict[f"step_{i}"] = entry
        absolute: dict[str, list[float]] = {}
        for name in metrics:
            curve = run[run["metric"] == name]
            if len(curve) >= k:
                absolute[name] = [final_value(curve["step"], curve["value"], k)]
        run_dict[ABSOLUTE_METRICS] = absolute
        task = tasks.setdefault(task_name(scenario, eval_set), {})
        task.setdefault(str(algorithm), {})[f"run_{int(seed)}"] = run_dict
    return {env_name: tasks}


def _elapsed(rows: pd.DataFrame) -> float:
    if ELAPSED_TIME in rows.columns:
        values = rows[ELAPSED_TIME].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            return float(values.max())
    return 0.0


def from_marl_eval(data: dict[str, Any], suite: str = "imported") -> pd.DataFrame:
    """Tidy frame (composition "all", status "done") of marl-eval JSON data.

    Each step's metric value is the mean of its list (one element for a win rate, one per episode
    otherwise). Seeds are read from the run key's trailing integer ("run_3", "seed_3", "3"), or
    numbered in order when a key has none. absolute_metrics are not part of a learning curve and
    are not imported. run_id is "env/task/algo/run".
    """
    rows = []
    for env, tasks in data.items():
        for task, algorithms in tasks.items():
            scenario, eval_set = split_task(task)
            for algorithm, runs in algorithms.items():
                for position, (run_key, steps) in enumerate(runs.items()):
                    match = _TRAILING_INT.search(str(run_key))
                    seed = int(match.group(1)) if match else position
                    run_id = f"{env}/{task}/{algorithm}/{run_key}"
                    for step_key, entry in _ordered_steps(steps):
                        step = int(entry[STEP_COUNT])
                        for name, values in entry.items():
                            if name in (STEP_COUNT, ELAPSED_TIME):
                                continue
                            value = float(np.mean(values)) if np.size(values) else np.nan
                            rows.append((suite, algorithm, scenario, eval_set, ALL_COMPOSITIONS,
                                         seed, step, name, value, run_id, "done"))
    out = pd.DataFrame(rows, columns=TIDY_COLUMNS)
    return out.astype({"seed": int, "step": int, "value": float})


def _ordered_steps(steps: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The run's step entries in evaluation order (step_0, step_1, ...), absolute metrics dropped."""
    numbered = []
    for key, entry in steps.items():
        match = _STEP_KEY.match(str(key))
        if match:
            numbered.append((int(match.group(1)), key, entry))
        elif str(key).lower() != ABSOLUTE_METRICS:
            raise ValueError(f"marl-eval run entry {key!r} is neither step_<k> nor {ABSOLUTE_METRICS}")
    return [(key, entry) for _, key, entry in sorted(numbered, key=lambda t: t[0])]


def write_json(data: dict[str, Any], path: str | Path) -> Path:
    """Write marl-eval data to `path` (indented JSON, key order kept); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4) + "\n", encoding="utf-8")
    return path


def read_json(path: str | Path) -> dict[str, Any]:
    """Read marl-eval data from a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
