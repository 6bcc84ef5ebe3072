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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from harness.runner.loop import Event, execute_group
from harness.store import DONE, FAILED, RunFiles
from harness.spec import RunSpec
from harness.suite.models import Resources

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


class GpuSlots:
    """Which GPU the next run goes to: `per_gpu` runs share each of `count` visible GPUs
    (`torch.cuda.device_count()` honours CUDA_VISIBLE_DEVICES, so cuda:i is the i-th visible one)."""

    def __init__(self, count: int, per_gpu: int) -> None:
        self.free = [per_gpu] * count

    def acquire(self) -> int | None:
        """The GPU with the most free slots (lowest index on ties), taken; None when all are full."""
        if not self.free or max(self.free) == 0:
            return None
        i = max(range(len(self.free)), key=lambda j: (self.free[j], -j))
        self.free[i] -= 1
        return i

    def release(self, i: int) -> None:
        self.free[i] += 1


def wants_gpu(group: Sequence[RunSpec], gpus: int) -> bool:
    """A group takes a GPU slot when GPUs are visible and its device is auto or plain cuda
    (an explicit cuda:N or cpu is the suite's own choice and is left alone)."""
    return gpus > 0 and group[0].device in ("auto", "cuda")


class ProcessExecutor:
    """``workers`` processes (spawned), each running whole groups; events come back over a queue.

    On a machine with GPUs, groups with device auto or cuda are packed ``runs_per_gpu`` to a GPU:
    one is submitted only when a GPU has a free slot, and it runs on that GPU."""

    def __init__(self, workers: int, runs_per_gpu: int = 1, gpu_count: int | None = None) -> None:
        self.workers = workers
        self.runs_per_gpu = runs_per_gpu
        self.gpu_count = torch.cuda.device_count() if gpu_count is None else gpu_count

    def run(self, groups: Sequence[list[RunSpec]], out_dir: Path, on_event: EventSink) -> list[dict]:
        ctx = mp.get_context("spawn")
        events: mp.Queue = ctx.Queue()
        threads = max(1, torch.get_num_threads() // self.workers)
        results: list[dict] = []
        slots = GpuSlots(self.gpu_count, self.runs_per_gpu)
        waiting = [list(g) for g in groups]
        pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(events, threads, os.getpid()))
        try:
            futures: dict[Future, tuple[list[RunSpec], int | None]] = {}
            while waiting or futures:
                while waiting and len(futures) < self.workers:
                    pick = self._next(waiting, slots)
                    if pick is None:
                        break
                    group, gpu = pick
                    device = f"cuda:{gpu}" if gpu is not None else None
                    futures[pool.submit(_worker, group, out_dir, device)] = (group, gpu)
                self._drain(events, on_event)
                done, _ = wait(set(futures), timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    group, gpu = futures.pop(fut)
                    if gpu is not None:
                        slots.release(gpu)
                    self._drain(events, on_event)
                    results.extend(self._results(fut, group, out_dir, on_event))
            self._drain(events, on_event)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            raise
        pool.shutdown(wait=True)
        return results

    def _next(self, waiting: list[list[RunSpec]], slots: GpuSlots) -> tuple[list[RunSpec], int | None] | None:
        """The first waiting group that can start now, with its GPU (None: no GPU); None if none can."""
        for i, group in enumerate(waiting):
            if not wants_gpu(group, self.gpu_count):
                return waiting.pop(i), None
            gpu = slots.acquire()
            if gpu is not None:
                return waiting.pop(i), gpu
        return None

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


EXECUTORS = ("auto", "inline", "process", "ray", "slurm")


@dataclass(frozen=True)
class ExecutorOptions:
    """What the distributed executors need beyond a worker count (the CLI's flags, the suite's
    ``resources``)."""

    resources: Resources = Resources()
    address: str | None = None            # Ray: an existing cluster ("auto", "ray://host:10001"); None starts one
    slurm_cluster: str | None = None      # submitit: "slurm", "local" (tests) or "debug"; None: auto-detect
    slurm_folder: Path | None = None      # submitit's logs and pickles (default: <out>/slurm)
    shared_fs: bool = True                # Ray: False ships run folders to and from the workers


def make_executor(kind: str, workers: int, options: ExecutorOptions | None = None):
    """The executor named `kind`: every one has ``run(groups, out_dir, on_event) -> list[dict]``."""
    options = options or ExecutorOptions()
    if kind == "inline" or (kind == "auto" and workers <= 1):
        return InlineExecutor()
    if kind in ("process", "auto"):
        return ProcessExecutor(max(1, workers), runs_per_gpu=options.resources.runs_per_gpu)
    if kind == "ray":
        from harness.runner.ray_executor import RayExecutor
        return RayExecutor(max(1, workers), options.resources, address=options.address, shared_fs=options.shared_fs)
    if kind == "slurm":
        from harness.runner.slurm_executor import SlurmExecutor
        return SlurmExecutor(options.resources, cluster=options.slurm_cluster, folder=options.slurm_folder)
    raise ValueError(f"unknown executor {kind!r}; allowed: {', '.join(EXECUTORS)}")
