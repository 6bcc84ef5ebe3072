"""Checkpoints: model, optimiser, RNG states and loop counters in one file, written atomically; replay
buffers beside it as chunk files of the episodes added since the previous checkpoint."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from algorithms.components.replay import EpisodeReplay, prune

CHECKPOINT = "checkpoint.pt"
STORAGE_DIR = "replay"   # run_dir/replay/<storage name>/<first>-<end>.pt


def save_checkpoint(run_dir: Path, state: dict[str, Any], storages: dict[str, EpisodeReplay] | None = None) -> None:
    """Persist the storages' new episodes, then write ``state`` (with the storages' chunk lists) to a
    temporary file and rename it, so a kill never leaves a half-written checkpoint; chunk files no
    checkpoint lists any more are deleted last."""
    storages = storages or {}
    for name, store in storages.items():
        store.persist(run_dir / STORAGE_DIR / name)
    state = state | {"storages": {name: store.state_dict() for name, store in storages.items()}}
    path = run_dir / CHECKPOINT
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for name, store in storages.items():
        prune(run_dir / STORAGE_DIR / name, {c[0] for c in store.chunks})


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / CHECKPOINT
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def restore_storages(run_dir: Path, checkpoint: dict[str, Any], storages: dict[str, EpisodeReplay]) -> None:
    """Refill each storage from the chunk files its checkpointed state lists."""
    saved = checkpoint.get("storages", {})
    for name, store in storages.items():
        if name not in saved:
            raise KeyError(f"checkpoint in {run_dir} has no storage {name!r} (has {', '.join(saved) or 'none'})")
        store.load_state_dict(saved[name], run_dir / STORAGE_DIR / name)


def clear_storages(run_dir: Path) -> None:
    """Remove every storage chunk (a run starting from scratch)."""
    shutil.rmtree(run_dir / STORAGE_DIR, ignore_errors=True)
