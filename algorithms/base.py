"""What every algorithm offers the runner: a typed config, capability flags, act / observe / train."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from harness.envs.base import EnvInfo, EnvStep


@dataclass(frozen=True)
class Capabilities:
    """Lets the harness refuse an impossible algorithm × scenario pairing before running it."""

    discrete_actions: bool = True
    needs_state: bool = True
    needs_entities: bool = False
    variable_team_size: bool = False   # can evaluate on compositions with other agent counts
    off_policy: bool = True


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

    def __init__(self, info: EnvInfo, config: AlgorithmConfig, device: torch.device) -> None:
        self.info = info
        self.config = config
        self.device = device

    @abstractmethod
    def init_hidden(self, batch_size: int) -> Any:
        """Recurrent state at the start of B episodes."""

    @abstractmethod
    def act(self, step: EnvStep, hidden: Any, t_env: int, explore: bool,
            generator: torch.Generator) -> tuple[torch.Tensor, Any]:
        """Actions ``[B, A]`` for the current step and the next hidden state."""

    @abstractmethod
    def observe(self, episodes: "Any") -> None:
        """Take a batch of finished episodes (an ``EpisodeBatch``) into storage."""

    @abstractmethod
    def train(self, t_env: int, episodes_seen: int, generator: torch.Generator) -> dict[str, float] | None:
        """Do one learner update if ready; return its scalar logs, or None if nothing was done."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: networks, optimisers, replay, counters."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
