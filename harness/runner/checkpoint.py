"""Checkpoints: model, optimiser, RNG states and loop counters in one file, written atomically; replay
buffers beside it as chunk files of the episodes added since the previous checkpoint; and, when a
suite asks for them, snapshots of the algorithm's state at chosen steps (``snapshots/<step>.pt``),
kept after training for `harness evaluate --checkpoint STEP`."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from algorithms.components.replay import EpisodeReplay, prune

CHECKPOINT = "checkpoint.pt"
STORAGE_DIR = "replay"   # run_dir/replay/<storage name>/<first>-<end>.pt
SNAPSHOT_DIR = "snapshots"   # run_dir/snapshots/<t_env>.pt: {"t_env", "algorithm"}


def _atomic_save(state: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_snapshot(run_dir: Path, t_env: int, algorithm_state: dict[str, Any]) -> None:
    """Keep the algorithm's state at ``t_env`` (networks and what loading them needs; no replay)."""
    _atomic_save({"t_env": int(t_env), "algorithm": algorithm_state}, run_dir / SNAPSHOT_DIR / f"{int(t_env)}.pt")


def snapshot_steps(run_dir: Path) -> list[int]:
    """The steps a run kept snapshots at, ascending."""
    folder = run_dir / SNAPSHOT_DIR
    return sorted(int(p.stem) for p in folder.glob("*.pt") if p.stem.isdigit()) if folder.exists() else []


def load_snapshot(run_dir: Path, t_env: int) -> dict[str, Any]:
    """The snapshot at ``t_env``; a ``KeyError`` naming the steps there are when there is none."""
    path = run_dir / SNAPSHOT_DIR / f"{int(t_env)}.pt"
    if not path.exists():
        steps = snapshot_steps(run_dir)
        kept = ", ".join(map(str, steps)) if steps else "none (training.snapshot_interval was 0)"
        raise KeyError(f"no snapshot at step {t_env}; snapshots kept: {kept}")
    return torch.load(path, map_location="cpu", weights_only=False)


def clear_snapshots(run_dir: Path) -> None:
    """Remove every snapshot (a run starting from scratch)."""
    shutil.rmtree(run_dir / SNAPSHOT_DIR, ignore_errors=True)


def save_checkpoint(run_dir: Path, state: dict[str, Any], storages: dict[str, EpisodeReplay] | None = None) -> None:
    """Persist the storages' new episodes, then write ``state`` (with the storages' chunk lists) to a
    temporary file and rename it, so a kill never leaves a half-written checkpoint; chunk files no
    checkpoint lists any more are deleted last."""
    storages = storages or {}
    for name, store in storages.items():
        store.persist(run_dir / STORAGE_DIR / name)
    state = state | {"storages": {name: store.state_dict() for name, store in storages.items()}}
    _atomic_save(state, run_dir / CHECKPOINT)
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
