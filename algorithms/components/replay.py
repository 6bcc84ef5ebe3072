"""Episode storage: a batch of padded episodes, and a ring buffer of them (PyMARL-style replay) that
checkpoints incrementally: each save writes only the episodes inserted since the previous one."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch


@dataclass
class EpisodeBatch:
    """B episodes padded to T agent steps; index t of obs-like fields is the input of step t.

    ``terminated`` and ``truncated`` are kept apart so the learner decides, from the run's protocol,
    whether a time-out ends the return or is bootstrapped from the observation it cut.
    """

    obs: torch.Tensor            # [B, T+1, A, obs_dim]
    state: torch.Tensor          # [B, T+1, state_dim]
    avail_actions: torch.Tensor  # [B, T+1, A, n_actions] bool
    agent_mask: torch.Tensor     # [B, T+1, A] bool
    actions: torch.Tensor        # [B, T, A] long
    reward: torch.Tensor         # [B, T]
    terminated: torch.Tensor     # [B, T] bool: the game ended the episode at step t
    truncated: torch.Tensor      # [B, T] bool: the time limit ended it at step t (not the game)
    filled: torch.Tensor         # [B, T] bool: step t happened
    # the entity view, stored only for algorithms that read it (capabilities.needs_entities)
    entities: torch.Tensor | None = None      # [B, T+1, E, entity_dim]
    entity_mask: torch.Tensor | None = None   # [B, T+1, E] bool: entity present
    obs_mask: torch.Tensor | None = None      # [B, T+1, A, E] bool: agent a sees entity e

    @property
    def batch_size(self) -> int:
        return self.actions.shape[0]

    def tensors(self) -> dict[str, torch.Tensor]:
        """The stored fields by name (the entity view only when it was collected)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @property
    def max_t(self) -> int:
        return self.actions.shape[1]

    def to(self, device: torch.device) -> "EpisodeBatch":
        return EpisodeBatch(**{k: v.to(device) for k, v in self.tensors().items()})

    def truncate(self, t: int) -> "EpisodeBatch":
        """Keep the first t steps (and t+1 observations)."""
        return EpisodeBatch(**{k: v[:, : t + 1] if k in _OBS_LIKE else v[:, :t] for k, v in self.tensors().items()})

    def end_of_return(self, time_limit: str) -> torch.Tensor:
        """``[B, T]`` bool: no bootstrapping after step t. A time-out counts under ``time_limit="terminal"``."""
        return end_of_return(self.terminated, self.truncated, time_limit)


def end_of_return(terminated: torch.Tensor, truncated: torch.Tensor, time_limit: str) -> torch.Tensor:
    """Steps after which nothing is bootstrapped: the game's ends, and time-outs under "terminal"."""
    if time_limit == "terminal":
        return terminated | truncated
    if time_limit == "bootstrap":
        return terminated
    raise ValueError(f"time_limit must be 'terminal' or 'bootstrap', got {time_limit!r}")


_OBS_LIKE = {"obs", "state", "avail_actions", "agent_mask", "entities", "entity_mask", "obs_mask"}


def index_dtype(n: int) -> torch.dtype:
    """The smallest integer dtype holding indices 0..n-1 (actions are stored compactly)."""
    return torch.uint8 if n <= 256 else torch.int16 if n <= 32768 else torch.int32


class EpisodeReplay:
    """A ring buffer of up to ``capacity`` episodes padded to ``max_t`` steps, sampled uniformly.

    Episode i (counting every insert) lives in slot ``i % capacity``. ``stored_dtypes`` stores fields
    in compact dtypes (e.g. actions as uint8); :meth:`sample` returns them as the batch had them.
    :meth:`persist` / :meth:`load_state_dict` keep a copy on disk as chunk files of new episodes.
    """

    def __init__(self, capacity: int, max_t: int, device: torch.device,
                 stored_dtypes: dict[str, torch.dtype] | None = None, with_replacement: bool = False) -> None:
        self.capacity = capacity
        self.with_replacement = with_replacement   # sample with replacement (transition replays)
        self.max_t = max_t
        self.device = device
        self.stored_dtypes = dict(stored_dtypes or {})
        self.storage: dict[str, torch.Tensor] = {}
        self.batch_dtypes: dict[str, torch.dtype] = {}
        self.inserted = 0   # episodes inserted since the buffer was made
        self.chunks: list[tuple[str, int, int]] = []   # on-disk chunks (file, first, end) of the last persist
        self.persisted = 0  # episodes [0, persisted) are in chunks

    @property
    def index(self) -> int:
        """Next slot to write."""
        return self.inserted % self.capacity

    @property
    def size(self) -> int:
        """Episodes held."""
        return min(self.inserted, self.capacity)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.storage.values())

    def _allocate(self, like: dict[str, torch.Tensor]) -> None:
        """Storage for ``capacity`` episodes shaped like ``like``'s fields, left uninitialised: a slot
        is zeroed when it is written and only written slots are read, so memory pages are touched as
        episodes come (zeroing a 5000-episode buffer of a long map up front took GiB and half a
        minute before the first episode)."""
        for name, x in like.items():
            t = self.max_t + 1 if name in _OBS_LIKE else self.max_t
            self.storage[name] = torch.empty(  # [capacity, t, ...]
                (self.capacity, t, *x.shape[2:]), dtype=self.stored_dtypes.get(name, x.dtype), device=self.device)

    def insert(self, batch: EpisodeBatch) -> None:
        if batch.max_t > self.max_t:
            raise ValueError(f"episode length {batch.max_t} exceeds the replay's max_t {self.max_t}")
        data = batch.tensors()
        if not self.storage:
            self.batch_dtypes = {k: v.dtype for k, v in data.items()}
            self._allocate(data)
        self._write(self.inserted, data)
        self.inserted += batch.batch_size

    def _write(self, first: int, data: dict[str, torch.Tensor]) -> None:
        """Put ``data`` (leading dim n) into the slots of episodes first .. first + n - 1: at most two
        contiguous slot ranges (the ring wraps once), written through views, so no copy of the data."""
        n = next(iter(data.values())).shape[0]
        done = 0
        while done < n:
            slot = (first + done) % self.capacity
            take = min(n - done, self.capacity - slot)
            for name, x in data.items():
                buf = self.storage[name]
                buf[slot:slot + take].zero_()
                buf[slot:slot + take, : x.shape[1]].copy_(x[done:done + take])
            done += take

    def can_sample(self, n: int) -> bool:
        return self.size >= n

    def sample(self, n: int, generator: torch.Generator) -> EpisodeBatch:
        """n distinct episodes chosen uniformly (n uniform draws ``with_replacement``), truncated to the
        longest filled episode among them."""
        if self.with_replacement:
            idx = torch.randint(self.size, (n,), generator=generator).to(self.device)
        else:
            idx = torch.randperm(self.size, generator=generator)[:n].to(self.device)
        batch = EpisodeBatch(**{k: v[idx].to(self.batch_dtypes[k]) for k, v in self.storage.items()})
        t = int(batch.filled.any(dim=0).nonzero().max().item()) + 1
        return batch.truncate(t)

    # -- incremental checkpoints -----------------------------------------------------------------
    def _episodes(self, first: int, end: int) -> dict[str, torch.Tensor]:
        """Episodes [first, end) (all still held), cut to their longest filled length, on the CPU."""
        slots = (torch.arange(first, end) % self.capacity).to(self.device)
        filled = self.storage["filled"][slots]
        t = int(filled.any(dim=0).nonzero().max().item()) + 1 if bool(filled.any()) else 1
        return {k: v[slots, : t + 1 if k in _OBS_LIKE else t].cpu() for k, v in self.storage.items()}

    def persist(self, directory: Path) -> None:
        """Write the episodes inserted since the last persist as one chunk file in ``directory``
        (time and memory proportional to them, not to the buffer), then forget chunks that newer
        episodes overwrote. Call :meth:`state_dict` after it; :func:`prune` deletes stray files."""
        directory.mkdir(parents=True, exist_ok=True)
        first, end = max(self.persisted, self.inserted - self.capacity), self.inserted
        if end > first:
            name = f"{first:012d}-{end:012d}.pt"
            tmp = directory / (name + ".tmp")
            torch.save(self._episodes(first, end), tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, directory / name)
            self.chunks.append((name, first, end))
        self.persisted = end
        oldest = self.inserted - self.capacity
        self.chunks = [c for c in self.chunks if c[2] > oldest]

    def state_dict(self) -> dict[str, Any]:
        """Counters and the list of chunk files that hold the episodes (not the episodes themselves)."""
        if self.persisted != self.inserted:
            raise RuntimeError("persist() the replay before taking its state_dict()")
        return {"inserted": self.inserted, "chunks": list(self.chunks), "capacity": self.capacity,
                "batch_dtypes": {k: str(v) for k, v in self.batch_dtypes.items()}}

    def load_state_dict(self, state: dict[str, Any], directory: Path) -> None:
        """Rebuild the buffer from the chunk files ``state`` lists (one chunk in memory at a time)."""
        if state["capacity"] != self.capacity:
            raise ValueError(f"replay capacity {self.capacity} differs from the checkpoint's {state['capacity']}")
        self.storage, self.inserted = {}, state["inserted"]
        self.batch_dtypes = {k: getattr(torch, v.removeprefix("torch.")) for k, v in state["batch_dtypes"].items()}
        oldest = self.inserted - self.capacity
        for name, first, end in state["chunks"]:
            # memory-mapped: a chunk's pages are read as they are copied, never held whole
            data = torch.load(directory / name, map_location="cpu", weights_only=True, mmap=True)
            if not self.storage:
                self._allocate(data)
            keep = max(oldest - first, 0)   # episodes of this chunk that newer ones overwrote
            self._write(first + keep, {k: v[keep:] for k, v in data.items()})
            del data
        self.chunks = [tuple(c) for c in state["chunks"]]
        self.persisted = self.inserted


def prune(directory: Path, keep: set[str]) -> None:
    """Delete the chunk files of ``directory`` that no checkpoint lists (overwritten, or left by a kill)."""
    if directory.exists():
        for path in directory.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
