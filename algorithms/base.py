"""What every algorithm offers the runner: a typed config, capability flags, act / observe / train."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

import torch

from algorithms.calls import Program, drive
from harness.envs.base import EnvInfo, EnvStep


@dataclass(frozen=True)
class Capabilities:
    """Lets the harness refuse an impossible algorithm × scenario pairing before running it."""

    discrete_actions: bool = True       # acts in discrete action spaces (with availability masks)
    continuous_actions: bool = False    # acts in bounded continuous action spaces
    needs_state: bool = True
    needs_entities: bool = False
    variable_team_size: bool = False   # can evaluate on compositions with other agent counts
    off_policy: bool = True


TIME_LIMITS = ("terminal", "bootstrap")


@dataclass(frozen=True)
class Protocol:
    """The run's training protocol that an algorithm must honour but does not choose (from the run spec).

    ``time_limit``: how a time-out is learned from. "terminal" (PyMARL's SMAC results, SMAC's
    ``continuing_episode`` off) treats it as the end of the return; "bootstrap" continues the return
    from the state the time limit cut (time-outs are not part of the task, Pardo et al. 2018).
    """

    time_limit: Literal["terminal", "bootstrap"] = "bootstrap"

    def __post_init__(self) -> None:
        if self.time_limit not in TIME_LIMITS:
            raise ValueError(f"time_limit must be one of {', '.join(TIME_LIMITS)}, got {self.time_limit!r}")


CADENCE_UNITS = ("episode", "env_step", "round")


@dataclass(frozen=True)
class Cadence:
    """How often the learner updates, in what it counts: one update every ``every`` finished episodes
    (PyMARL's episode runner: 1), env steps, or collection rounds (on-policy: one per rollout). The
    runner calls ``train`` once per update due."""

    unit: Literal["episode", "env_step", "round"] = "episode"
    every: int = 1

    def __post_init__(self) -> None:
        if self.unit not in CADENCE_UNITS:
            raise ValueError(f"cadence unit must be one of {', '.join(CADENCE_UNITS)}, got {self.unit!r}")
        if self.every < 1:
            raise ValueError(f"cadence every must be >= 1, got {self.every}")

    def due(self, before: int, after: int) -> list[int]:
        """The counts (episodes or env steps) at which an update fell due between ``before`` and ``after``."""
        first = (before // self.every + 1) * self.every
        return list(range(first, after + 1, self.every))


@dataclass(frozen=True)
class AlgorithmConfig:
    """Base of every algorithm's typed config; subclasses add their hyper-parameters."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> "AlgorithmConfig":
        """Defaults with ``overrides`` applied; unknown keys raise KeyError naming the allowed ones."""
        unknown = sorted(set(overrides) - set(cls.field_names()))
        if unknown:
            raise KeyError(
                f"unknown hyper-parameter(s) {', '.join(unknown)}; allowed: {', '.join(cls.field_names())}"
            )
        return cls(**overrides)


class Algorithm(ABC):
    """A learner plus its acting policy. The runner owns environments, replay timing and evaluation."""

    name: ClassVar[str]
    config_cls: ClassVar[type[AlgorithmConfig]]
    capabilities: ClassVar[Capabilities] = Capabilities()
    # how the runner collects for it: whole episodes from fresh resets ("episodes", PyMARL's episode
    # runner), or fixed-horizon steps of autoresetting environments ("steps": on-policy rollouts,
    # per-step transitions); ``horizon`` is the steps per round in the latter
    collection: ClassVar[Literal["episodes", "steps"]] = "episodes"

    @property
    def horizon(self) -> int:
        """Steps of every environment per collection round (collection "steps")."""
        return 1

    def __init__(self, info: EnvInfo, config: AlgorithmConfig, device: torch.device,
                 protocol: Protocol = Protocol()) -> None:
        self.info = info
        self.config = config
        self.device = device
        self.protocol = protocol

    @property
    def cadence(self) -> Cadence:
        """When the runner calls :meth:`train` (default: once per finished episode, as PyMARL)."""
        return Cadence()

    def storages(self) -> dict[str, Any]:
        """Replay buffers the checkpoint writer saves incrementally (each an ``EpisodeReplay``), by name;
        they are left out of :meth:`state_dict`."""
        return {}

    @abstractmethod
    def init_hidden(self, batch_size: int) -> Any:
        """Recurrent state at the start of B episodes."""

    @abstractmethod
    def act_program(self, step: EnvStep, hidden: Any, t_env: int, explore: bool,
                    generator: torch.Generator) -> Program:
        """A program (``algorithms/calls.py``) that returns actions ``[B, A]`` (or ``[B, A, action_dim]``)
        for the current step and the next hidden state; on-policy learners add a dict of what they need
        stored per step (log-probs, values). Networks are evaluated by yielding a ``Call``."""

    def act(self, step: EnvStep, hidden: Any, t_env: int, explore: bool,
            generator: torch.Generator) -> tuple[torch.Tensor, Any] | tuple[torch.Tensor, Any, dict]:
        """:meth:`act_program` run alone."""
        return drive(self.act_program(step, hidden, t_env, explore, generator))

    def reset_hidden(self, hidden: Any, starts: torch.Tensor) -> Any:
        """``hidden`` with the rows of environments whose episode starts now (``starts [B]``) reset;
        autoresetting collection calls it before every step (feed-forward policies: unchanged)."""
        return hidden

    @abstractmethod
    def observe(self, episodes: "Any") -> None:
        """Take a batch of finished episodes (an ``EpisodeBatch``) into storage."""

    @abstractmethod
    def train_program(self, t_env: int, episodes_seen: int, generator: torch.Generator) -> Program:
        """A program that does one learner update if ready and returns its scalar logs, or None if
        nothing was done. ``episodes_seen`` is the number of finished episodes at which it fell due.
        Losses are evaluated (and backpropagated) by yielding ``Call(..., grad=True)``."""

    def train(self, t_env: int, episodes_seen: int, generator: torch.Generator) -> dict[str, float] | None:
        """:meth:`train_program` run alone."""
        return drive(self.train_program(t_env, episodes_seen, generator))

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume but the :meth:`storages`: networks, optimisers, counters."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
