"""Executors: run a list of run groups (``harness/runner/groups.py``) inline or in a local process pool,
a group per process at a time; both report through events."""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import queue as queue_mod
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Sequence

import torch

from harness.runner.loop import Event, execute_group
from harness.store import DONE, FAILED, RunFiles
from harness.spec import RunSpec

EventSink = Callable[[Event], None]


class InlineExecutor:
    """One group after another in this process (debugging, single runs, exact timing)."""

    def run(self, groups: Sequence[list[RunSpec]], out_dir: Path, on_event: EventSink) -> list[dict]:
        return [result for group in groups for result in execute_group(list(group), out_dir, on_event)]


_QUEUE: "mp.Queue | None" = None


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent died (SIGKILL leaves no chance to stop it) exits instead of running on."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(q: "mp.Queue", threads: int, parent: int) -> None:
    global _QUEUE
    _QUEUE = q
    torch.set_num_threads(threads)
    # the parent's pid comes from the parent: it may have died before this worker finished starting
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _worker(group: list[RunSpec], out_dir: Path, device: str | None) -> list[dict]:
    assert _QUEUE is not None
    return execute_group(group, out_dir, _QUEUE.put, device)


def _devices(n: int) -> list[str | None]:
    """Round-robin GPU assignment for ``device: auto`` runs when several GPUs exist."""
    count = torch.cuda.device_count()
    return [f"cuda:{i % count}" if count > 1 else None for i in range(n)]


class ProcessExecutor:
    """``workers`` processes (spawned), each running whole groups; events come back over a queue."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, groups: Sequence[list[RunSpec]], out_dir: Path, on_event: EventSink) -> list[dict]:
        ctx = mp.get_context("spawn")
        events: mp.Queue = ctx.Queue()
        threads = max(1, torch.get_num_threads() // self.workers)
        results: list[dict] = []
        devices = _devices(len(groups))
        pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(events, threads, os.getpid()))
        try:
            futures: dict[Future, list[RunSpec]] = {}
            for group, dev in zip(groups, devices):
                if group[0].device != "auto":
                    dev = None
                futures[pool.submit(_worker, list(group), out_dir, dev)] = list(group)
            pending = set(futures)
            while pending:
                self._drain(events, on_event)
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    self._drain(events, on_event)
                    results.extend(self._results(fut, futures[fut], out_dir, on_event))
            self._drain(events, on_event)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            raise
        pool.shutdown(wait=True)
        return results

    @staticmethod
    def _drain(events: "mp.Queue", on_event: EventSink) -> None:
        while True:
            try:
                on_event(events.get_nowait())
            except queue_mod.Empty:
                return

    @staticmethod
    def _results(fut: Future, group: list[RunSpec], out_dir: Path, on_event: EventSink) -> list[dict]:
        try:
            return fut.result()
        except BrokenProcessPool as err:
            reason = f"worker process died: {err}"
        except Exception as err:  # noqa: BLE001 - e.g. an unpicklable result; record, go on
            reason = f"{type(err).__name__}: {err}"
        results = []
        for spec in group:   # the runs the dead worker had not finished
            files = RunFiles.for_spec(out_dir, spec)
            files.create(spec)
            if files.status().get("status") == DONE:
                results.append({"run_id": spec.run_id, "status": DONE, "reason": ""})
                continue
            files.set_status(FAILED, reason=reason)
            on_event({"type": "end", "run_id": spec.run_id, "status": FAILED, "reason": reason})
            results.append({"run_id": spec.run_id, "status": FAILED, "reason": reason})
        return results


def make_executor(kind: str, workers: int) -> InlineExecutor | ProcessExecutor:
    if kind == "inline" or (kind == "auto" and workers <= 1):
        return InlineExecutor()
    if kind in ("process", "auto"):
        return ProcessExecutor(max(1, workers))
    raise ValueError(f"unknown executor {kind!r}; allowed: auto, inline, process")
