"""Run folders as data: a run's files shipped between a worker's node-local folder and the
driver's, for executors whose nodes share no file system (Ray's no-shared-fs mode)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from harness.runner.checkpoint import CHECKPOINT, STORAGE_DIR

SKIP = ("lock",)         # run-folder files never shipped: the lock belongs to the folder's own host

Folder = dict[str, bytes]   # relative path -> content, of one run folder


@dataclass(frozen=True)
class Changes:
    """What changed in one run folder since it was last shipped: files to write, files to delete."""

    run_id: str
    write: Folder
    delete: tuple[str, ...] = ()


def read_folder(root: Path) -> Folder:
    """Every file of a run folder (not its lock, not a half-written ``*.tmp``)."""
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in SKIP and not p.name.endswith(".tmp")}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".ship.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def apply_changes(root: Path, changes: Changes) -> None:
    """Write shipped files into ``root`` in the order a checkpoint itself is written (records and
    replay chunks, then the checkpoint, then the status; deletions last), so a driver killed
    half-way still holds a folder the loop can resume."""
    last = (CHECKPOINT, "status.json")
    for rel in sorted(changes.write, key=lambda r: (last.index(r) + 1) if r in last else 0):
        _write_atomic(root / rel, changes.write[rel])
    for rel in changes.delete:
        (root / rel).unlink(missing_ok=True)


class FolderWatch:
    """A worker's view of the run folders it shipped, so each shipment carries only the files that
    changed since: the checkpoint and replay chunks (only ever replaced whole, by a rename, never
    edited) by inode, size and time, which is cheap enough to test at every event; the records and
    the status (small) by content."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.known: dict[str, dict[str, tuple]] = {}

    def seed(self, run_id: str, files: Folder) -> None:
        """Write the driver's copy of a run folder here and take it as shipped."""
        root = self.runs_dir / run_id
        for rel, data in files.items():
            _write_atomic(root / rel, data)
        self.known[run_id] = self._scan(root)

    def checkpointed(self, run_id: str) -> bool:
        """Whether the run wrote a checkpoint since its folder was last shipped."""
        path = self.runs_dir / run_id / CHECKPOINT
        return path.exists() and self.known.get(run_id, {}).get(CHECKPOINT) != self._key(path, CHECKPOINT)

    def changes(self, run_id: str) -> Changes:
        root = self.runs_dir / run_id
        now, before = self._scan(root), self.known.get(run_id, {})
        self.known[run_id] = now
        write = {rel: (root / rel).read_bytes() for rel, key in now.items() if before.get(rel) != key}
        return Changes(run_id, write, tuple(sorted(set(before) - set(now))))

    def _scan(self, root: Path) -> dict[str, tuple]:
        if not root.is_dir():
            return {}
        return {rel: self._key(p, rel) for p in root.rglob("*")
                if p.is_file() and p.name not in SKIP and not p.name.endswith(".tmp")
                for rel in [str(p.relative_to(root))]}

    @staticmethod
    def _key(path: Path, rel: str) -> tuple:
        if rel == CHECKPOINT or rel.startswith(STORAGE_DIR + "/"):
            st = path.stat()
            return (st.st_ino, st.st_size, st.st_mtime_ns)
        return (hashlib.blake2b(path.read_bytes(), digest_size=16).digest(),)
