"""`harness evaluate`: new evaluation sets for finished runs, played by their final checkpoints (or
a snapshot kept at a chosen step) without any training, with the same fixed evaluation seeds as the
runs' own evaluations.

A run keeps its final checkpoint (networks and optimiser state) after its budget ends, which is all an
evaluation needs, and, with ``training.snapshot_interval``, snapshots of the algorithm's state at
chosen steps. What an evaluation adds goes to files of its own in the run folder (the training
records stay exactly what the checkpoint produced): ``posthoc.json`` (each set's definition and the
steps it was played at), ``posthoc_episodes.jsonl`` and ``posthoc_evals.jsonl`` (the same records as
``episodes.jsonl`` and ``evals.jsonl``, each at the step of the state that played it), which the tidy
frame reads beside the run's own: a set played at several steps has a curve, and its final value is
the one at the latest step played.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from algorithms import registry as algorithms
from algorithms.base import Protocol
from harness.envs.base import CompositionSpec
from harness.envs.registry import make
from harness.provenance import resolve_device
from harness.runner.checkpoint import load_checkpoint, load_snapshot
from harness.runner.evaluation import evaluate, summarise
from harness.runner.loop import EVAL_BATCH
from harness.runner.seeding import derive_seed
from harness.spec import TRAIN_SET, RunSpec, composition_to_dict
from harness.store import DONE, RunFiles

SHAPE_FIELDS = ("n_agents", "n_entities", "obs_dim", "state_dim", "n_actions")


@dataclass(frozen=True)
class EvaluationOutcome:
    """What :func:`evaluate_run` did for one run: ``evaluated``, ``up to date`` or ``skipped`` (why)."""

    run_id: str
    status: str
    sets: tuple[str, ...] = ()
    step: int | None = None
    reason: str = ""
    summary: tuple[dict, ...] = ()


def definition(composition: CompositionSpec, episodes: int, spec: RunSpec) -> dict[str, Any]:
    """What makes an evaluation set's results what they are (a set of that name must keep it)."""
    data = {"composition": composition_to_dict(composition), "episodes": episodes, "eval_seed": spec.eval_seed,
            "greedy": spec.eval_greedy}
    return json.loads(json.dumps(data))   # as posthoc.json holds it (tuples as lists)


def played_steps(entry: dict[str, Any]) -> list[int]:
    """The steps a ``posthoc.json`` entry was played at (files written before snapshots hold one ``step``)."""
    return list(entry.get("steps", [entry["step"]] if "step" in entry else []))


def evaluate_run(spec: RunSpec, out_dir: Path, sets: dict[str, CompositionSpec], *, episodes: int | None = None,
                 device: str | None = None, checkpoint: int | None = None) -> EvaluationOutcome:
    """Play every set of ``sets`` not yet played at that step with the finished run's final checkpoint
    (``checkpoint`` None) or its snapshot at step ``checkpoint``, and record it. A set whose name is
    taken (one of the run's own sets, or an earlier evaluation defined otherwise) is a ``ValueError``,
    and so is a step with no snapshot; a run not ``done`` is skipped."""
    files = RunFiles.for_spec(out_dir, spec)
    status = files.status().get("status", "pending") if files.spec_path.exists() else "missing"
    if status != DONE:
        return EvaluationOutcome(spec.run_id, "skipped", reason=f"run is {status}, not done")
    episodes = episodes or spec.eval_episodes
    known = files.posthoc()
    for name, composition in sets.items():
        if name == TRAIN_SET or name in spec.eval_sets:
            raise ValueError(f"eval set {name!r} is one of the run's own evaluation sets ({TRAIN_SET}, "
                             f"{', '.join(spec.eval_sets) or 'no others'}); give the new set another name")
        wanted = definition(composition, episodes, spec)
        if name in known and known[name]["definition"] != wanted:
            raise ValueError(f"eval set {name!r} was evaluated before as {known[name]['definition']}, not as "
                             f"{wanted}; give the new set another name")
    with files.lock():
        if checkpoint is None:
            state = load_checkpoint(files.root)
            if state is None:
                return EvaluationOutcome(spec.run_id, "skipped", reason="its final checkpoint is missing")
            step = int(state["loop"]["t_env"])
        else:
            try:
                state = load_snapshot(files.root, checkpoint)
            except KeyError as err:
                raise ValueError(err.args[0]) from None
            step = int(state["t_env"])
        todo = {name: c for name, c in sets.items() if step not in played_steps(known.get(name, {}))}
        if not todo:
            return EvaluationOutcome(spec.run_id, "up to date", tuple(sets), step)
        algorithm, envs = _restore(spec, state, todo, episodes, device)
        records = evaluate(algorithm, envs, episodes=episodes, t_env=step, eval_seed=spec.eval_seed,
                           greedy=spec.eval_greedy)
        summary = summarise(records)
        files.append(files.posthoc_episodes_path, records)
        files.append(files.posthoc_evals_path, summary)
        known |= {name: {"definition": definition(c, episodes, spec),
                         "steps": sorted({*played_steps(known.get(name, {})), step})} for name, c in todo.items()}
        files.write_json(files.posthoc_path, known)
    return EvaluationOutcome(spec.run_id, "evaluated", tuple(todo), step, summary=tuple(summary))


def _restore(spec: RunSpec, checkpoint: dict, sets: dict[str, CompositionSpec], episodes: int,
             device: str | None):
    """The run's algorithm with the state of ``checkpoint`` (its final checkpoint or a snapshot: both hold
    ``"algorithm"``), and one evaluation environment per new set, padded to
    cover the training and evaluation compositions the run was built for as well."""
    alg_cls = algorithms.get(spec.algorithm)
    dev = resolve_device(device or spec.device)
    trained = [c for c in [spec.train, *spec.eval_sets.values()] if c is not None]
    common = dict(device=dev, backend=spec.backend, options=spec.env_options,
                  entity_view=alg_cls.capabilities.needs_entities)
    envs = {name: make(spec.scenario, batch_size=min(episodes, EVAL_BATCH), seed=spec.eval_seed, composition=c,
                       cover=[*trained, *sets.values()], **common) for name, c in sets.items()}
    info = next(iter(envs.values())).info
    built = make(spec.scenario, batch_size=1, seed=spec.eval_seed, composition=spec.train, cover=trained, **common).info
    changed = [f for f in SHAPE_FIELDS if getattr(info, f) != getattr(built, f)]
    if changed and not alg_cls.capabilities.variable_team_size:
        shapes = ", ".join(f"{f} {getattr(built, f)} -> {getattr(info, f)}" for f in changed)
        raise ValueError(f"algorithm {spec.algorithm!r} cannot evaluate {', '.join(sets)} on {spec.scenario!r}: the "
                         f"sets need other shapes than it was trained with ({shapes}) and it lacks "
                         "capabilities.variable_team_size")
    torch.manual_seed(derive_seed(spec.seed, "init"))
    config = alg_cls.config_cls.from_overrides(spec.algorithm_config)
    algorithm = alg_cls(info, config, dev, Protocol(time_limit=spec.time_limit))
    algorithm.load_state_dict(checkpoint["algorithm"])
    return algorithm, envs
