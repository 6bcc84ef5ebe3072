"""Ray executor: every run group is one Ray task on a local or an existing Ray cluster; the task's
events stream back to the driver as they happen, and a group whose worker died is resubmitted and
resumes from its runs' last checkpoints (docs/cluster.md, "Ray")."""
from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import ray
import torch
from ray import exceptions as rx

from harness.runner.folder_shipping import Changes, Folder, FolderWatch, apply_changes, read_folder
from harness.store import BUSY, DONE, FAILED, PENDING, RunBusy, RunFiles, wait_for_locks
from harness.suite.models import Resources

if TYPE_CHECKING:
    from harness.spec import RunSpec

Event = dict[str, Any]
EventSink = Callable[[Event], None]

# a task ended by one of these lost its worker process (or node), not its own code: retried
WORKER_DIED = (rx.WorkerCrashedError, rx.NodeDiedError, rx.LocalRayletDiedError, rx.OutOfMemoryError,
               rx.ObjectLostError)
FLUSH_SECONDS = 0.2      # a worker sends buffered progress events at least this often
POLL_SECONDS = 0.2       # the driver looks for finished tasks at least this often (events: at once)
LOCK_WAIT_SECONDS = 120.0  # a retry waits this long for a dead worker's lock (NFS lease) before "busy"
SCRATCH = "harness-ray-"  # node-local folders of no-shared-fs tasks: <tmp>/harness-ray-<pid>-*


# -- the cluster ---------------------------------------------------------------------------------
def connect(address: str | None, num_cpus: int) -> bool:
    """Join the cluster at ``address``, or start a local one with ``num_cpus`` CPUs (no dashboard,
    warnings only). True if this call connected, so the caller shuts down what it started; False
    if Ray was already initialised in this process (a test's cluster, a notebook's)."""
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = dict(logging_level=logging.WARNING, log_to_driver=False)
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)
    else:
        ray.init(address=address, **quiet)
    return True


def placement(device: str, cluster_gpus: float, runs_per_gpu: int) -> tuple[float, str | None]:
    """(GPUs the group's task asks for, device it runs on). A CUDA run takes ``1/runs_per_gpu`` of
    the GPU Ray assigns (``cuda`` is that GPU: Ray sets CUDA_VISIBLE_DEVICES, so ``cuda:1`` is not
    kept); ``auto`` is CUDA when the cluster has GPUs, else CPU, said explicitly since Ray 2.60
    leaves CUDA_VISIBLE_DEVICES alone for tasks without GPUs. Other devices stay as they are."""
    if device.startswith("cuda") or (device == "auto" and cluster_gpus > 0):
        return 1.0 / runs_per_gpu, "cuda"
    return 0.0, "cpu" if device == "auto" else None


# -- the worker side -----------------------------------------------------------------------------
class Inbox:
    """The driver's mailbox (an async Ray actor, no CPU): workers put items; the driver takes all
    there are, waiting up to ``timeout`` seconds for one, so events reach it as they are sent."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.arrived = asyncio.Event()

    async def put(self, items: list[dict]) -> None:
        self.items.extend(items)
        self.arrived.set()

    async def take(self, timeout: float) -> list[dict]:
        if not self.items and timeout > 0:
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        self.arrived.clear()
        items, self.items = self.items, []
        return items


class Outbox:
    """A task's sending end: items ``{"token", "event", "changes"}`` go to the inbox in order, each
    put waited for (so a task's events are all in before its result); plain progress events are
    batched for up to FLUSH_SECONDS, anything else goes at once. ``token`` names the submission, so
    the driver can drop what a task it has given up on still sends (a node cut off, not dead)."""

    def __init__(self, inbox: Any, token: int) -> None:
        self.inbox, self.token, self.buffer, self.sent = inbox, token, [], time.monotonic()

    def send(self, event: Event, changes: Changes | None = None) -> None:
        self.buffer.append({"token": self.token, "event": event, "changes": changes})
        if event["type"] != "progress" or changes is not None or time.monotonic() - self.sent > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            ray.get(self.inbox.put.remote(self.buffer))
            self.buffer = []
        self.sent = time.monotonic()


def sweep_scratch() -> None:
    """Remove the node-local folders of tasks whose worker died (it could not remove its own)."""
    for path in Path(tempfile.gettempdir()).glob(SCRATCH + "*-*"):
        pid = path.name[len(SCRATCH):].split("-", 1)[0]
        if pid.isdigit() and path.is_dir() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's
        pass
    return True


def run_group_task(group: list[RunSpec], out_dir: str, inbox: Any, token: int, device: str | None, threads: int,
                   folders: dict[str, Folder] | None, lock_wait: float) -> list[dict]:
    """The body of a group's Ray task. ``folders`` None: the runs live in ``out_dir`` (shared file
    system). Otherwise they are the driver's copies of the run folders (``out_dir`` is not used):
    the group runs in a node-local temporary folder seeded with them and ships its files back at
    every checkpoint and at every run's end, together with the event that follows."""
    from harness.runner.loop import execute_group   # here: the inbox actor imports this module too

    torch.set_num_threads(threads)
    outbox = Outbox(inbox, token)
    try:
        if folders is None:
            if lock_wait > 0:
                wait_for_locks([RunFiles.for_spec(Path(out_dir), s) for s in group], lock_wait)
            return execute_group(group, Path(out_dir), outbox.send, device)
        sweep_scratch()
        with tempfile.TemporaryDirectory(prefix=f"{SCRATCH}{os.getpid()}-") as tmp:
            watch = FolderWatch(Path(tmp) / "runs")
            for run_id, files in folders.items():
                watch.seed(run_id, files)

            def ship(event: Event) -> None:
                rid = event["run_id"]
                due = event["type"] == "end" or watch.checkpointed(rid)
                outbox.send(event, watch.changes(rid) if due else None)

            return execute_group(group, Path(tmp), ship, device)
    finally:
        outbox.flush()


# -- the driver side -----------------------------------------------------------------------------
@dataclass
class _Attempt:
    """One submission of (the unfinished runs of) a group; ``number`` 0 is the first, n the n-th retry."""

    group: list[RunSpec]
    number: int = 0
    token: int = -1                                       # set when submitted
    locks: ExitStack = field(default_factory=ExitStack)   # the driver's hold on the runs (no shared fs)


class RayExecutor:
    """Run groups as Ray tasks. A group batches its seeds into one model in one process, so it is
    one task asking ``resources.cpus_per_run`` CPUs (its torch threads) and ``1/runs_per_gpu`` of a
    GPU when it runs on CUDA. ``address`` None starts a local cluster of ``workers`` such tasks
    (``workers * cpus_per_run`` CPUs) and stops it after; otherwise it joins that cluster.

    Shared file system (the default): workers write the run folders straight into ``out_dir``,
    which must therefore be the same path on a file system every node mounts (NFS, Lustre, ...).
    ``shared_fs=False``: nothing is assumed of the nodes' disks; each task runs in a node-local
    temporary folder, gets the driver's copy of its run folders with the task, and ships them back
    at every checkpoint and every run's end; only the driver writes ``out_dir``, and holds the runs'
    locks there while their task is out. Either way a retry resumes from the last checkpoint the
    driver can see.

    A task whose worker process or node died (WORKER_DIED) is resubmitted with the runs it had not
    finished, at most ``resources.max_retries`` times per run in one ``run``; each retry emits
    ``{"type": "retry", "run_id", "attempt", "reason"}`` and adds one to ``retries`` in the run's
    status.json (over all invocations). Past the last retry the run is recorded failed.
    """

    def __init__(self, workers: int, resources: Resources = Resources(), address: str | None = None,
                 shared_fs: bool = True, lock_wait: float = LOCK_WAIT_SECONDS) -> None:
        self.workers, self.resources, self.address = max(1, workers), resources, address
        self.shared_fs, self.lock_wait = shared_fs, lock_wait

    @property
    def local_cpus(self) -> int:
        """CPUs of the local cluster: room for ``workers`` tasks at once."""
        return max(1, math.ceil(self.workers * self.resources.cpus_per_run))

    def run(self, groups: Sequence[list[RunSpec]], out_dir: Path, on_event: EventSink) -> list[dict]:
        started = connect(self.address, self.local_cpus)
        try:
            return _Session(self, Path(out_dir).resolve(), on_event).run(groups)
        finally:
            if started:
                ray.shutdown()


class _Session:
    """The driver's state for one ``RayExecutor.run``: the tasks out, the runs ended, the inbox."""

    def __init__(self, executor: RayExecutor, out_dir: Path, on_event: EventSink) -> None:
        self.ex, self.out_dir, self.sink = executor, out_dir, on_event
        self.inbox = ray.remote(num_cpus=0)(Inbox).remote()
        self.task = ray.remote(run_group_task)
        self.gpus = float(ray.cluster_resources().get("GPU", 0))
        self.out: dict[Any, _Attempt] = {}
        self.ended: dict[str, dict] = {}     # run id -> its result, from its end event
        self.results: list[dict] = []
        self.submitted = 0                   # tasks submitted so far (their tokens)

    def run(self, groups: Sequence[list[RunSpec]]) -> list[dict]:
        try:
            for group in groups:
                self.submit(_Attempt(list(group)))
            while self.out:
                self.collect(wait=POLL_SECONDS)
                ready, _ = ray.wait(list(self.out), num_returns=len(self.out), timeout=0)
                if ready:
                    self.collect()   # a task's puts are all answered before it returns: its events are in
                for ref in ready:
                    self.finish(ref, self.out.pop(ref))
        except KeyboardInterrupt:
            for ref, attempt in self.out.items():
                ray.cancel(ref, force=True)
                attempt.locks.close()
            raise
        finally:
            ray.kill(self.inbox)
        return self.results

    # -- events ---------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if event["type"] == "end":
            self.ended[event["run_id"]] = {k: event.get(k, "") for k in ("run_id", "status", "reason")}
        self.sink(event)

    def collect(self, wait: float = 0.0) -> None:
        """Hand every item in the inbox on (waiting up to ``wait`` s for one): its files into out_dir
        first, then its event."""
        live = {attempt.token for attempt in self.out.values()}
        for item in ray.get(self.inbox.take.remote(wait)):
            if item["token"] not in live:
                continue
            changes: Changes | None = item["changes"]
            if changes is not None:
                apply_changes(self.out_dir / "runs" / changes.run_id, changes)
            self.emit(item["event"])

    # -- tasks ----------------------------------------------------------------------------------
    def submit(self, attempt: _Attempt) -> None:
        num_gpus, device = placement(attempt.group[0].device, self.gpus, self.ex.resources.runs_per_gpu)
        if num_gpus and not self.gpus:
            for spec in attempt.group:
                self.fail(spec, f"device {spec.device!r} requested but the Ray cluster has no GPU")
            return
        folders = None if self.ex.shared_fs else self.hold(attempt)
        if not attempt.group:
            return
        attempt.token = self.submitted = self.submitted + 1
        cpus = self.ex.resources.cpus_per_run
        lock_wait = self.ex.lock_wait if attempt.number and self.ex.shared_fs else 0.0
        # Ray's own retries are off: a resubmission here emits its event and ships the driver's copy
        task = self.task.options(num_cpus=cpus, num_gpus=num_gpus, max_retries=0, retry_exceptions=False)
        ref = task.remote(attempt.group, str(self.out_dir) if self.ex.shared_fs else "", self.inbox, attempt.token,
                          device, max(1, int(cpus)), folders, lock_wait)
        self.out[ref] = attempt

    def hold(self, attempt: _Attempt) -> dict[str, Folder]:
        """No shared file system: lock the group's runs in out_dir for the task's time (a run another
        process holds ends busy and stays out) and read their folders to ship with it."""
        kept, folders = [], {}
        for spec in attempt.group:
            files = RunFiles.for_spec(self.out_dir, spec)
            files.create(spec)
            try:
                attempt.locks.enter_context(files.lock())
            except RunBusy as err:
                self.emit({"type": "end", "run_id": spec.run_id, "status": BUSY, "reason": str(err)})
                self.results.append(self.ended[spec.run_id])
                continue
            kept.append(spec)
            folders[spec.run_id] = read_folder(files.root)
        attempt.group = kept
        return folders

    def finish(self, ref: Any, attempt: _Attempt) -> None:
        try:
            self.results.extend(ray.get(ref))
            return
        except WORKER_DIED as err:
            died, reason = True, f"{type(err).__name__}: {_first_line(err)}"
        except Exception as err:  # noqa: BLE001 - the task itself failed (e.g. unpicklable): record, go on
            died, reason = False, f"{type(err).__name__}: {_first_line(err)}"
        finally:
            attempt.locks.close()
        unfinished = []
        for spec in attempt.group:
            if spec.run_id in self.ended:
                self.results.append(self.ended[spec.run_id])
            elif RunFiles.for_spec(self.out_dir, spec).status().get("status") == DONE:
                # done, but the worker died before its end event went out
                self.emit({"type": "end", "run_id": spec.run_id, "status": DONE, "reason": ""})
                self.results.append(self.ended[spec.run_id])
            else:
                unfinished.append(spec)
        if not unfinished:
            return
        if died and attempt.number < self.ex.resources.max_retries:
            for spec in unfinished:
                self.retry(spec, attempt.number + 1, reason)
            self.submit(_Attempt(unfinished, attempt.number + 1))
            return
        tries = attempt.number + 1
        for spec in unfinished:
            self.fail(spec, f"worker died {tries} time{'s' * (tries > 1)} (max_retries "
                            f"{self.ex.resources.max_retries}): {reason}" if died else reason)

    def retry(self, spec: RunSpec, number: int, reason: str) -> None:
        files = RunFiles.for_spec(self.out_dir, spec)
        files.create(spec)
        st = files.status()
        files.set_status(st.get("status", PENDING), retries=int(st.get("retries", 0)) + 1)
        self.emit({"type": "retry", "run_id": spec.run_id, "attempt": number, "reason": reason})

    def fail(self, spec: RunSpec, reason: str) -> None:
        files = RunFiles.for_spec(self.out_dir, spec)
        files.create(spec)
        files.set_status(FAILED, reason=reason, finished=time.time())
        self.emit({"type": "end", "run_id": spec.run_id, "status": FAILED, "reason": reason})
        self.results.append(self.ended[spec.run_id])


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""
