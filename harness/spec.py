"""RunSpec: one fully resolved run (algorithm × scenario × seed), the unit the runner executes.

Its id is a hash of its canonical JSON, so the same spec always maps to the same tracked run and a
re-run of a suite skips or resumes it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.envs.base import CompositionSpec

TRAIN_SET = "train"  # name of the evaluation set made of the training compositions


def composition_to_dict(spec: CompositionSpec | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {k: v for k, v in asdict(spec).items() if v is not None}


def composition_from_dict(data: dict[str, Any] | None) -> CompositionSpec | None:
    if data is None:
        return None
    tup = lambda x: tuple(x) if x is not None else None  # noqa: E731
    return CompositionSpec(
        agents=tup(data.get("agents")),
        enemies=tup(data.get("enemies")),
        units=tuple((k, tuple(v)) for k, v in data["units"]) if data.get("units") else None,
        weights=tuple((k, float(v)) for k, v in data["weights"]) if data.get("weights") else None,
        teams=tuple(tuple(t) for t in data["teams"]) if data.get("teams") else None,
    )


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one run's result (and nothing that does not: analysis settings such
    as ``final_k`` and report tables stay out, so changing them re-runs nothing)."""

    suite: str
    algorithm: str
    algorithm_config: dict[str, Any]          # algorithm defaults with suite overrides applied
    scenario: str
    seed: int
    budget_env_steps: int
    eval_interval: int
    eval_episodes: int
    backend: str = "combat"
    train: CompositionSpec | None = None
    eval_sets: dict[str, CompositionSpec | None] = field(default_factory=dict)
    eval_greedy: bool = True
    eval_seed: int = 1_000_003                # fixed seed of every evaluation round
    n_envs: int = 8                           # environments stepped together while training
    time_limit: str = "bootstrap"             # a time-out ends the return ("terminal") or not ("bootstrap")
    checkpoint_interval: int = 0              # env steps between checkpoints (0: every evaluation)
    snapshot_interval: int = 0                # env steps between kept policy snapshots (0: none); not
                                              # part of the run's identity: it changes no number
    device: str = "auto"                      # "auto", "cpu", "cuda", "cuda:1", ...
    env_options: dict[str, Any] = field(default_factory=dict)  # combat simulator options (compile, rules)
    variant: str = ""                         # the suite's name for this algorithm entry (an ablation)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["train"] = composition_to_dict(self.train)
        d["eval_sets"] = {k: composition_to_dict(v) for k, v in self.eval_sets.items()}
        if not d["env_options"]:
            del d["env_options"]  # simulator defaults: ids of runs from before the option stay the same
        if not d["variant"]:
            del d["variant"]      # likewise for entries without a label
        if not d["snapshot_interval"]:
            del d["snapshot_interval"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        d = dict(d)
        d["train"] = composition_from_dict(d.get("train"))
        d["eval_sets"] = {k: composition_from_dict(v) for k, v in (d.get("eval_sets") or {}).items()}
        return cls(**d)

    def canonical_json(self) -> str:
        """The spec as its run id hashes it: everything that determines the run's numbers."""
        d = self.to_dict()
        d.pop("snapshot_interval", None)
        return json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)

    @property
    def run_id(self) -> str:
        """Content hash of the resolved spec (16 hex digits)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    @property
    def row_name(self) -> str:
        """The algorithm as reports name it: the suite entry's label (an ablation), else the algorithm."""
        return self.variant or self.algorithm

    @property
    def label(self) -> str:
        return f"{self.row_name}/{self.scenario}/seed{self.seed}"
