"""The run store: the files of one run folder (spec, status, per-episode records, evaluation summaries).

These are the run's ground truth: the tracker mirrors them into MLflow, and analysis reads them.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from harness.spec import RunSpec

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
BUSY = "busy"  # outcome of a run another process is executing right now


class RunBusy(RuntimeError):
    """Another process holds this run's lock."""


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass(frozen=True)
class RunFiles:
    root: Path

    @classmethod
    def for_spec(cls, out_dir: Path, spec: RunSpec) -> "RunFiles":
        return cls(Path(out_dir) / "runs" / spec.run_id)

    spec_path = property(lambda self: self.root / "spec.json")
    status_path = property(lambda self: self.root / "status.json")
    episodes_path = property(lambda self: self.root / "episodes.jsonl")
    evals_path = property(lambda self: self.root / "evals.jsonl")
    train_path = property(lambda self: self.root / "train.jsonl")
    # `harness evaluate`: evaluation sets added to a finished run, from its final checkpoint
    posthoc_path = property(lambda self: self.root / "posthoc.json")
    posthoc_episodes_path = property(lambda self: self.root / "posthoc_episodes.jsonl")
    posthoc_evals_path = property(lambda self: self.root / "posthoc_evals.jsonl")

    def create(self, spec: RunSpec) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.spec_path.exists():
            _atomic_write(self.spec_path, json.dumps(spec.to_dict(), indent=1, sort_keys=True))

    def spec(self) -> RunSpec:
        return RunSpec.from_dict(json.loads(self.spec_path.read_text()))

    def status(self) -> dict[str, Any]:
        if not self.status_path.exists():
            return {"status": PENDING}
        return json.loads(self.status_path.read_text())

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's lock for as long as this process executes it (released if the process dies).

        Raises RunBusy if another process holds it, so a run is never executed twice at once.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunBusy(f"run {self.root.name} is being executed by another process") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def is_stale(self, status: dict[str, Any] | None = None) -> bool:
        """A run marked running whose process on this host is gone (killed): resumable, not running."""
        st = self.status() if status is None else status
        if st.get("status") != RUNNING or st.get("host") != socket.gethostname() or not st.get("pid"):
            return False
        try:
            os.kill(int(st["pid"]), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, owned by another user
            pass
        return False

    def set_status(self, status: str, **extra: Any) -> None:
        data = self.status() | {"status": status, "updated": time.time()} | extra
        _atomic_write(self.status_path, json.dumps(data, indent=1, sort_keys=True, default=str))

    def append(self, path: Path, rows: Iterable[dict]) -> None:
        with open(path, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def posthoc(self) -> dict[str, dict]:
        """The evaluation sets `harness evaluate` added: name -> {definition, step}."""
        return json.loads(self.posthoc_path.read_text()) if self.posthoc_path.exists() else {}

    def write_json(self, path: Path, data: Any) -> None:
        """Write ``data`` as JSON atomically (a temporary file renamed over ``path``)."""
        _atomic_write(path, json.dumps(data, indent=1, sort_keys=True))

    def rewrite(self, path: Path, rows: Iterable[dict]) -> None:
        _atomic_write(path, "".join(json.dumps(r) + "\n" for r in rows))

    @staticmethod
    def read_jsonl(path: Path) -> list[dict]:
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut by a kill; the checkpoint rewrites it
                    break
        return rows


def wait_for_locks(run_files: Iterable[RunFiles], timeout_s: float, poll_s: float = 1.0) -> None:
    """Wait until no process holds these runs' locks, at most `timeout_s` in all. A retried or
    requeued task starts after its dead attempt, whose ``flock`` the kernel released; on a network
    file system a lock can outlive a lost node until the server's lease runs out (NFSv4: 90 s).
    A lock still held at the deadline belongs to a live process: the run is then reported busy."""
    deadline = time.monotonic() + timeout_s
    for files in run_files:
        while True:
            try:
                with files.lock():
                    break
            except RunBusy:
                if time.monotonic() >= deadline:
                    return
                time.sleep(poll_s)

