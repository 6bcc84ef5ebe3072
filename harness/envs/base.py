"""The batched environment interface every backend implements (docs/architecture.md, Environments).

A step takes actions ``[B, A]`` and returns an :class:`EnvStep` of tensors on the environment's
device. Each of the B environments may hold a different team composition, padded to a common
maximum with masks, so one run's training and evaluation environments share tensor shapes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

import torch


@dataclass(frozen=True)
class CompositionSpec:
    """Which team compositions an environment draws from (one suite `train:` or eval-set entry).

    Fields are alternatives a backend interprets; unset fields take the scenario's defaults.
    - ``agents``: (lo, hi) number of controlled agents per episode, inclusive.
    - ``enemies``: (lo, hi) number of enemies; None means "same as agents" for set scenarios.
    - ``units``: per unit type (lo, hi) counts for the controlled team (REFIL-style groups).
    - ``weights``: per unit type sampling weights (SMACv2-style weighted teams).
    - ``teams``: explicit list of teams, each a list of unit/type names (e.g. [["A","B"],["B","A"]]).
    """

    agents: tuple[int, int] | None = None
    enemies: tuple[int, int] | None = None
    units: tuple[tuple[str, tuple[int, int]], ...] | None = None
    weights: tuple[tuple[str, float], ...] | None = None
    teams: tuple[tuple[str, ...], ...] | None = None


@dataclass(frozen=True)
class EnvInfo:
    """Static shapes of a (padded) batched environment, and the kind of each agent's action.

    Discrete envs (the default) take one action index per agent from ``n_actions`` choices.
    Continuous envs (``continuous_actions``) take ``action_dim`` floats per agent, each component in
    [``action_low``, ``action_high``]; ``n_actions`` counts discrete actions only, so it is unused
    there (1 by convention), and their ``avail_actions`` is a ``[B, A, 1]`` tensor of True, so code
    that reads it keeps working. ``has_state`` is False for an env without a global state;
    ``n_entities > 0`` says the env has an entity view.
    """

    n_agents: int            # A: max controlled agents (padding included)
    n_actions: int           # discrete actions per agent (unused by continuous envs)
    obs_dim: int
    state_dim: int
    episode_limit: int
    n_entities: int = 0      # E: entities in the entity view (0 if the backend has none)
    entity_dim: int = 0
    simulator: str = ""      # e.g. "combat 0.1" or "matrix 0.1"; recorded in provenance
    continuous_actions: bool = False
    action_dim: int = 0          # per-agent continuous action size; 0 for discrete envs
    action_low: float = -1.0     # lower bound of each continuous action component
    action_high: float = 1.0     # upper bound of each continuous action component
    has_state: bool = True       # the env provides a global state
    # which features of an agent's own entity are team-unrelated (MIPI's s_i^+: what a marginal
    # policy may read); None: all of them
    own_features: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.continuous_actions and self.action_dim < 1:
            raise ValueError(f"a continuous env needs action_dim >= 1, got {self.action_dim}")
        if not self.continuous_actions and self.action_dim != 0:
            raise ValueError(f"a discrete env has action_dim 0, got {self.action_dim}")
        if self.continuous_actions and not self.action_low < self.action_high:
            raise ValueError(f"action_low ({self.action_low}) must be below action_high ({self.action_high})")

    @property
    def discrete_actions(self) -> bool:
        """Each agent picks one of ``n_actions`` indices (the opposite of ``continuous_actions``)."""
        return not self.continuous_actions


@dataclass
class EnvStep:
    """One batched transition's outputs; all tensors live on the environment's device."""

    obs: torch.Tensor            # [B, A, obs_dim] float32
    state: torch.Tensor          # [B, state_dim] float32
    avail_actions: torch.Tensor  # [B, A, n_actions] bool
    agent_mask: torch.Tensor     # [B, A] bool: agent slot exists in this env's composition
    reward: torch.Tensor         # [B] float32 (zero for envs already done)
    terminated: torch.Tensor     # [B] bool: episode ended by the game (no bootstrapping)
    truncated: torch.Tensor      # [B] bool: episode ended by the time limit (a loss)
    battle_won: torch.Tensor     # [B] bool
    entities: torch.Tensor | None = None     # [B, E, entity_dim]
    entity_mask: torch.Tensor | None = None  # [B, E] bool: True = entity present
    obs_mask: torch.Tensor | None = None     # [B, A, E] bool: True = agent a sees entity e
    info: dict = field(default_factory=dict)

    @property
    def done(self) -> torch.Tensor:
        """[B] bool: the episode of each environment has ended."""
        return self.terminated | self.truncated


class BatchedEnv(ABC):
    """B environments stepped in one call on one device.

    With ``autoreset=False`` (episode collection) an environment that is done stays done: further
    steps ignore its actions and return zero reward until :meth:`reset`. With ``autoreset=True`` a
    done environment's next step ignores its actions and starts a new episode with the next
    composition from the generator (zero reward, not done): the step that ended the episode still
    returned its real final observation.
    """

    batch_size: int
    device: torch.device
    info: EnvInfo

    @abstractmethod
    def reset(self, seed: int | None = None) -> EnvStep:
        """Start new episodes in all B environments (drawing compositions from the generator).

        A given ``seed`` re-seeds the environment's generator first, so the episodes that follow
        depend only on that seed and the actions taken (the runner relies on this to resume runs
        exactly without saving environment RNG state).
        """

    @abstractmethod
    def step(self, actions: torch.Tensor) -> EnvStep:
        """Advance every environment by one agent step; ``actions`` is ``[B, A]`` long."""

    @abstractmethod
    def compositions(self) -> list[str]:
        """A readable label of each environment's current composition, e.g. ``3s2z_vs_3s2z``."""

    def close(self) -> None:  # pragma: no cover - backends with resources override
        """Release backend resources."""

    def get_state(self) -> object:
        """Everything the next steps depend on (battles, random generator), to resume a run that
        collects across rounds without a reset; :meth:`set_state` puts it back."""
        raise NotImplementedError(f"{type(self).__name__} cannot save its state: runs on it that step "
                                  "environments across collection rounds cannot resume")

    def set_state(self, state: object) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot restore a saved state")


def check_actions(actions: torch.Tensor, batch_size: int, n_agents: int, action_dim: int = 0) -> None:
    """Raise a clear error if an action batch has the wrong shape or dtype.

    Discrete (``action_dim`` 0): an integer ``[B, A]`` tensor. Continuous (``action_dim`` > 0): a
    floating ``[B, A, action_dim]`` tensor.
    """
    if action_dim > 0:
        expected = (batch_size, n_agents, action_dim)
        if actions.shape != expected:
            raise ValueError(f"continuous actions must have shape [B={batch_size}, A={n_agents}, "
                             f"action_dim={action_dim}], got {list(actions.shape)}")
        if not actions.is_floating_point():
            raise ValueError(f"continuous actions must be a floating tensor, got {actions.dtype}")
        return
    if actions.shape != (batch_size, n_agents):
        raise ValueError(
            f"actions must have shape [B={batch_size}, A={n_agents}], got {list(actions.shape)}"
        )
    if actions.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"actions must be an integer tensor, got {actions.dtype}")


def covering_range(specs: Sequence[CompositionSpec], attr: str) -> tuple[int, int] | None:
    """The smallest (lo, hi) range covering ``attr`` over specs that set it (None if none do)."""
    ranges = [getattr(s, attr) for s in specs if getattr(s, attr) is not None]
    if not ranges:
        return None
    return min(r[0] for r in ranges), max(r[1] for r in ranges)
