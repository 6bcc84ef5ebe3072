"""One run from start (or its last checkpoint) to its budget: collect → store → learn → evaluate.

The loop is deterministic given the spec: every random stream is derived from the run seed, the
environments are re-seeded per collection round, and a checkpoint holds everything else, so a run
resumed after a kill ends with exactly the metrics of an uninterrupted run (on CPU).
"""
from __future__ import annotations

import math
import os
import socket
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from algorithms import registry as algorithms
from algorithms.base import Protocol
from algorithms.calls import Program, drive, drive_together
from harness.envs import make
from harness.envs.base import BatchedEnv
from harness.provenance import resolve_device
from harness.runner.checkpoint import (clear_snapshots, clear_storages, load_checkpoint, restore_storages,
                                      save_checkpoint, save_snapshot)
from harness.runner.evaluation import evaluate_program, summarise
from harness.runner.groups import group_key
from harness.runner.rollout import collect_program
from harness.store import BUSY, DONE, FAILED, RUNNING, RunBusy, RunFiles
from harness.runner.seeding import derive_seed
from harness.runner.stepping import Stepper
from harness.runner.timing import speed_record, timed
from harness.spec import TRAIN_SET, RunSpec

Event = dict[str, Any]
EventSink = Callable[[Event], None]
EVAL_BATCH = 32  # environments per evaluation round


@dataclass
class LoopState:
    """Counters of a run, saved in every checkpoint."""

    t_env: int = 0
    episodes: int = 0
    rounds: int = 0
    next_eval: int = 0
    next_checkpoint: int = 0
    next_snapshot: int = 0
    last_eval_step: int = -1
    updates: int = 0
    train_log: dict[str, float] = field(default_factory=dict)
    clock: dict[str, float] = field(default_factory=dict)   # seconds per phase (harness.runner.timing)


def build_envs(spec: RunSpec, device: torch.device, entity_view: bool = True,
               autoreset: bool = False) -> tuple[BatchedEnv, dict[str, BatchedEnv]]:
    """The training environment and one evaluation environment per set (training set included);
    ``entity_view`` False when the algorithm does not read the entity view; ``autoreset`` for a
    training environment stepped across rounds (evaluation always plays whole episodes)."""
    cover = [c for c in [spec.train, *spec.eval_sets.values()] if c is not None]
    common = dict(device=device, cover=cover, backend=spec.backend, options=spec.env_options,
                  entity_view=entity_view)
    train_env = make(spec.scenario, batch_size=spec.n_envs, seed=derive_seed(spec.seed, "env"),
                     composition=spec.train, autoreset=autoreset, **common)
    eval_batch = min(spec.eval_episodes, EVAL_BATCH)
    eval_envs = {TRAIN_SET: make(spec.scenario, batch_size=eval_batch, seed=spec.eval_seed,
                                 composition=spec.train, **common)}
    for name, comp in spec.eval_sets.items():
        eval_envs[name] = make(spec.scenario, batch_size=eval_batch, seed=spec.eval_seed, composition=comp, **common)
    return train_env, eval_envs


class RunLoop:
    """Owns one run's algorithm, environments, generator and counters."""

    def __init__(self, spec: RunSpec, out_dir: Path, on_event: EventSink, device: str | None = None,
                 tracking_enabled: bool = True) -> None:
        self.spec, self.on_event = spec, on_event
        self.files = RunFiles.for_spec(out_dir, spec)
        self.device = resolve_device(device or spec.device)
        self.tracking_enabled = tracking_enabled
        torch.manual_seed(derive_seed(spec.seed, "init"))
        alg_cls = algorithms.get(spec.algorithm)
        stepped = alg_cls.collection == "steps"
        self.env, self.eval_envs = build_envs(spec, self.device, alg_cls.capabilities.needs_entities, stepped)
        config = alg_cls.config_cls.from_overrides(spec.algorithm_config)
        self.algorithm = alg_cls(self.env.info, config, self.device, Protocol(time_limit=spec.time_limit))
        self.stepper = Stepper(self.env, self.algorithm, derive_seed(spec.seed, "train", 0)) if stepped else None
        per_env = self.algorithm.horizon if stepped else self.env.info.episode_limit
        round_max = spec.n_envs * per_env
        if spec.eval_interval < round_max:
            raise ValueError(
                f"evaluation interval {spec.eval_interval} is shorter than one collection round can be "
                f"(n_envs {spec.n_envs} x {'horizon' if stepped else 'episode limit'} {per_env} = {round_max} "
                "env steps), so evaluations would be skipped; raise evaluation.interval or lower training.n_envs")
        self.generator = torch.Generator().manual_seed(derive_seed(spec.seed, "actions"))
        self.state = LoopState()
        self.records: list[dict] = []
        self.ckpt_interval = spec.checkpoint_interval or spec.eval_interval

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self) -> None:
        save_checkpoint(self.files.root, {
            "algorithm": self.algorithm.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "loop": asdict(self.state),
            "records": self.records,
            "stepper": self.stepper.state_dict() if self.stepper is not None else None,
        }, self.algorithm.storages())
        self.files.set_status(RUNNING, t_env=self.state.t_env)

    def restore(self) -> bool:
        """Resume from the last checkpoint, or start clean; either way the run's record files are
        cut back to exactly what the restored state has produced (a kill may have left more)."""
        ckpt = load_checkpoint(self.files.root)
        if ckpt is None:
            for path in (self.files.episodes_path, self.files.evals_path, self.files.train_path):
                path.unlink(missing_ok=True)
            clear_storages(self.files.root)
            clear_snapshots(self.files.root)
            return False
        self.algorithm.load_state_dict(ckpt["algorithm"])
        restore_storages(self.files.root, ckpt, self.algorithm.storages())
        self.generator.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        if ckpt.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        self.state = LoopState(**ckpt["loop"])
        if self.stepper is not None:
            self.stepper.load_state_dict(ckpt["stepper"])
        self.records = ckpt["records"]
        # drop anything written after the checkpoint, so the files match the resumed state
        self.files.rewrite(self.files.episodes_path, self.records)
        self.files.rewrite(self.files.evals_path, summarise(self.records))
        train = [r for r in RunFiles.read_jsonl(self.files.train_path) if r["step"] <= self.state.t_env]
        self.files.rewrite(self.files.train_path, train)
        return True

    # -- the loop ------------------------------------------------------------------------------
    def evaluate_now(self) -> None:
        """Evaluate now (:meth:`evaluation_program` run alone)."""
        drive(self.evaluation_program())

    def evaluation_program(self) -> Program:
        s = self.state
        records = yield from evaluate_program(self.algorithm, self.eval_envs, episodes=self.spec.eval_episodes,
                                              t_env=s.t_env, eval_seed=self.spec.eval_seed,
                                              greedy=self.spec.eval_greedy)
        self.records.extend(records)
        summary = summarise(records)
        s.last_eval_step = s.t_env
        while s.next_eval <= s.t_env:
            s.next_eval += self.spec.eval_interval
        if self.spec.snapshot_interval and self.tracking_enabled and s.t_env >= s.next_snapshot:
            save_snapshot(self.files.root, s.t_env, self.algorithm.state_dict())
            while s.next_snapshot <= s.t_env:
                s.next_snapshot += self.spec.snapshot_interval
        if self.tracking_enabled:
            self.files.append(self.files.episodes_path, records)
            self.files.append(self.files.evals_path, summary)
            if s.train_log:
                self.files.append(self.files.train_path, [{"step": s.t_env, **s.train_log}])
        self.on_event({"type": "eval", "run_id": self.spec.run_id, "t_env": s.t_env, "summary": summary,
                       "train": dict(s.train_log)})

    def _updates_due(self, steps_before: int, episodes_before: int) -> list[int]:
        """For each learner update that fell due in the last round, the episode count it fell due at
        (PyMARL's episode runner trains after every episode: n_envs updates per round of n_envs)."""
        cadence, s = self.algorithm.cadence, self.state
        if cadence.unit == "episode":
            return cadence.due(episodes_before, s.episodes)
        if cadence.unit == "round":
            return [s.episodes] * len(cadence.due(s.rounds - 1, s.rounds))
        return [s.episodes] * len(cadence.due(steps_before, s.t_env))

    def run(self) -> None:
        """:meth:`program` run alone."""
        drive(self.program())

    def program(self) -> Program:
        """The run from its current state to its budget, as a program: its network evaluations are
        calls, which a run group answers for all its runs at once."""
        s, spec = self.state, self.spec
        while True:
            if s.t_env >= s.next_eval or (s.t_env >= spec.budget_env_steps and s.last_eval_step != s.t_env):
                with timed(s.clock, "eval"):
                    yield from self.evaluation_program()
            if s.t_env >= s.next_checkpoint or s.t_env >= spec.budget_env_steps:
                while s.next_checkpoint <= s.t_env:
                    s.next_checkpoint += self.ckpt_interval
                if self.tracking_enabled:
                    self.checkpoint()
            if s.t_env >= spec.budget_env_steps:
                return
            with timed(s.clock, "collect"):
                if self.stepper is not None:
                    batch, stats = yield from self.stepper.collect_program(
                        self.algorithm.horizon, t_env=s.t_env, explore=True, generator=self.generator)
                else:
                    batch, stats = yield from collect_program(self.env, self.algorithm, t_env=s.t_env, explore=True,
                                                              generator=self.generator,
                                                              seed=derive_seed(spec.seed, "train", s.rounds))
            steps_before, episodes_before = s.t_env, s.episodes
            s.rounds += 1
            s.t_env += stats.env_steps
            s.episodes += len(stats.lengths)
            logs = None
            with timed(s.clock, "learn"):
                self.algorithm.observe(batch)
                for due in self._updates_due(steps_before, episodes_before):
                    update = yield from self.algorithm.train_program(s.t_env, due, self.generator)
                    if update is not None:
                        logs = update
                        s.updates += 1
            if logs is not None:
                s.train_log = {k: float(v) for k, v in logs.items()}
                if stats.returns:   # a round of steps may end no episode
                    s.train_log |= {"train_return": sum(stats.returns) / len(stats.returns),
                                    "train_win_rate": sum(stats.won) / len(stats.won)}
                if not all(math.isfinite(v) for v in s.train_log.values()):
                    raise FloatingPointError(f"non-finite training statistic at t_env={s.t_env}: {s.train_log}")
            self.on_event({"type": "progress", "run_id": spec.run_id, "t_env": s.t_env})


def execute_run(spec: RunSpec, out_dir: Path, on_event: EventSink, device: str | None = None) -> dict[str, Any]:
    """Run (or resume) one spec to completion; failures are recorded, never raised (Ctrl-C excepted)."""
    return execute_group([spec], out_dir, on_event, device)[0]


def execute_group(specs: list[RunSpec], out_dir: Path, on_event: EventSink,
                  device: str | None = None) -> list[dict[str, Any]]:
    """Run (or resume) specs together as one run group: each run keeps its own folder, lock, status,
    records and checkpoints, and only their network evaluations are batched (``drive_together``).
    A run that fails (a crash, a non-finite loss) is recorded as failed and leaves; the others go on.

    The specs must differ only in their seed: a batched call evaluates every run's parameters
    through the first run's module, so anything else a module reads (gamma, say) must be shared."""
    keys = {group_key(s) for s in specs}
    if len(keys) > 1:
        raise ValueError("a run group's specs must differ only in their seed; got "
                         + ", ".join(sorted({s.label for s in specs})))
    return drive_together([_run_program(spec, out_dir, on_event, device) for spec in specs])


def _run_program(spec: RunSpec, out_dir: Path, on_event: EventSink, device: str | None) -> Program:
    """One run as a program, under its lock: built, resumed and run to its budget; its end (done,
    failed, busy) is recorded the moment it comes, and returned."""
    files = RunFiles.for_spec(out_dir, spec)
    files.create(spec)
    try:
        with files.lock():
            return (yield from _locked_program(spec, out_dir, on_event, device, files))
    except RunBusy as err:
        on_event({"type": "end", "run_id": spec.run_id, "status": BUSY, "reason": str(err)})
        return {"run_id": spec.run_id, "status": BUSY, "reason": str(err)}


def _locked_program(spec: RunSpec, out_dir: Path, on_event: EventSink, device: str | None,
                    files: RunFiles) -> Program:
    if files.status().get("status") == DONE:
        # finished by another harness process on the same folder after this one listed its work
        on_event({"type": "end", "run_id": spec.run_id, "status": DONE, "reason": ""})
        return {"run_id": spec.run_id, "status": DONE, "reason": ""}
    started = time.time()
    on_event({"type": "start", "run_id": spec.run_id, "label": spec.label})
    try:
        loop = RunLoop(spec, out_dir, on_event, device)
        if loop.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(loop.device)
        resumed = loop.restore()
        files.set_status(RUNNING, device=str(loop.device), resumed=resumed, simulator=loop.env.info.simulator,
                         started=started, pid=os.getpid(), host=socket.gethostname())
        yield from loop.program()
    except Exception as err:  # noqa: BLE001 - any failure of one run is recorded, the suite goes on
        return _failed(spec, files, err, on_event)
    files.set_status(DONE, reason="", finished=time.time(), t_env=loop.state.t_env,
                     wall_seconds=time.time() - started,
                     speed=speed_record(loop.state.clock, loop.state.t_env, loop.device))
    on_event({"type": "end", "run_id": spec.run_id, "status": DONE, "reason": ""})
    return {"run_id": spec.run_id, "status": DONE, "reason": ""}


def _failed(spec: RunSpec, files: RunFiles, err: BaseException, on_event: EventSink) -> dict[str, Any]:
    reason = f"{type(err).__name__}: {err}"
    (files.root / "error.txt").write_text("".join(traceback.format_exception(err)))
    files.set_status(FAILED, reason=reason, finished=time.time())
    on_event({"type": "end", "run_id": spec.run_id, "status": FAILED, "reason": reason})
    return {"run_id": spec.run_id, "status": FAILED, "reason": reason}
