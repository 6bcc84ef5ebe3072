"""Episode storage: a batch of padded episodes, and a ring buffer of them (PyMARL-style replay)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch


@dataclass
class EpisodeBatch:
    """B episodes padded to T agent steps; index t of obs-like fields is the input of step t."""

    obs: torch.Tensor            # [B, T+1, A, obs_dim]
    state: torch.Tensor          # [B, T+1, state_dim]
    avail_actions: torch.Tensor  # [B, T+1, A, n_actions] bool
    agent_mask: torch.Tensor     # [B, T+1, A] bool
    actions: torch.Tensor        # [B, T, A] long
    reward: torch.Tensor         # [B, T]
    terminated: torch.Tensor     # [B, T] bool: true terminal at step t (no bootstrap)
    filled: torch.Tensor         # [B, T] bool: step t happened

    @property
    def batch_size(self) -> int:
        return self.actions.shape[0]

    @property
    def max_t(self) -> int:
        return self.actions.shape[1]

    def to(self, device: torch.device) -> "EpisodeBatch":
        return EpisodeBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def truncate(self, t: int) -> "EpisodeBatch":
        """Keep the first t steps (and t+1 observations)."""
        out = {}
        for f in fields(self):
            x = getattr(self, f.name)
            out[f.name] = x[:, : t + 1] if f.name in _OBS_LIKE else x[:, :t]
        return EpisodeBatch(**out)


_OBS_LIKE = {"obs", "state", "avail_actions", "agent_mask"}


class EpisodeReplay:
    """A ring buffer of up to ``capacity`` episodes padded to ``max_t`` steps, sampled uniformly."""

    def __init__(self, capacity: int, max_t: int, device: torch.device) -> None:
        self.capacity = capacity
        self.max_t = max_t
        self.device = device
        self.storage: dict[str, torch.Tensor] = {}
        self.index = 0      # next slot to write
        self.size = 0       # episodes held

    def _allocate(self, batch: EpisodeBatch) -> None:
        for f in fields(batch):
            x = getattr(batch, f.name)
            t = self.max_t + 1 if f.name in _OBS_LIKE else self.max_t
            self.storage[f.name] = torch.zeros(  # [capacity, t, ...]
                (self.capacity, t, *x.shape[2:]), dtype=x.dtype, device=self.device
            )

    def insert(self, batch: EpisodeBatch) -> None:
        if batch.max_t > self.max_t:
            raise ValueError(f"episode length {batch.max_t} exceeds the replay's max_t {self.max_t}")
        if not self.storage:
            self._allocate(batch)
        slots = (torch.arange(batch.batch_size) + self.index) % self.capacity
        for f in fields(batch):
            x = getattr(batch, f.name).to(self.device)
            buf = self.storage[f.name]
            buf[slots] = 0
            buf[slots, : x.shape[1]] = x
        self.index = int((self.index + batch.batch_size) % self.capacity)
        self.size = min(self.size + batch.batch_size, self.capacity)

    def can_sample(self, n: int) -> bool:
        return self.size >= n

    def sample(self, n: int, generator: torch.Generator) -> EpisodeBatch:
        """n distinct episodes chosen uniformly, truncated to the longest filled episode among them."""
        idx = torch.randperm(self.size, generator=generator)[:n].to(self.device)
        batch = EpisodeBatch(**{k: v[idx] for k, v in self.storage.items()})
        t = int(batch.filled.any(dim=0).nonzero().max().item()) + 1
        return batch.truncate(t)

    def state_dict(self) -> dict[str, Any]:
        return {"index": self.index, "size": self.size,
                # clone: saving a view would serialise the whole preallocated buffer
                "storage": {k: v[: self.size].cpu().clone() for k, v in self.storage.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.index, self.size = state["index"], state["size"]
        self.storage = {}
        for k, v in state["storage"].items():
            buf = torch.zeros((self.capacity, *v.shape[1:]), dtype=v.dtype, device=self.device)
            buf[: v.shape[0]] = v.to(self.device)
            self.storage[k] = buf
