"""Fixed-horizon rollouts of autoresetting environments, as on-policy and per-step learners receive them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from algorithms.components.replay import end_of_return


@dataclass
class StepBatch:
    """H steps of B environments; index t of obs-like fields is the input of step t (t = 0..H)."""

    obs: torch.Tensor            # [B, H+1, A, obs_dim]
    state: torch.Tensor          # [B, H+1, state_dim]
    avail_actions: torch.Tensor  # [B, H+1, A, n_actions] bool
    agent_mask: torch.Tensor     # [B, H+1, A] bool
    starts: torch.Tensor         # [B, H+1] bool: obs t is the first observation of an episode
    actions: torch.Tensor        # [B, H, A] long, or [B, H, A, action_dim] float
    reward: torch.Tensor         # [B, H]
    terminated: torch.Tensor     # [B, H] bool: the game ended the episode at step t
    truncated: torch.Tensor      # [B, H] bool: the time limit ended it at step t
    valid: torch.Tensor          # [B, H] bool: step t is a transition of the task (not a restart)
    extras: dict[str, torch.Tensor]   # what the policy returned beside its actions, each [B, H, ...]
    hidden: Any = None           # the policy's hidden state before step 0 (recurrent learners re-unroll)
    entities: torch.Tensor | None = None      # [B, H+1, E, entity_dim], when the algorithm reads it
    entity_mask: torch.Tensor | None = None   # [B, H+1, E] bool
    obs_mask: torch.Tensor | None = None      # [B, H+1, A, E] bool

    @property
    def batch_size(self) -> int:
        return self.reward.shape[0]

    @property
    def horizon(self) -> int:
        return self.reward.shape[1]

    def end_of_return(self, time_limit: str) -> torch.Tensor:
        """``[B, H]`` bool: no bootstrapping after step t (time-outs count under "terminal")."""
        return end_of_return(self.terminated, self.truncated, time_limit)
