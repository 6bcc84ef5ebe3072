"""``--executor slurm``: every run group as one task of a Slurm array job, submitted through submitit.

The array tasks run ``execute_group`` on the cluster's nodes and write the run folders as any executor
does; the driver (this process) reads those folders back into the events an inline run would send,
so progress, MLflow mirroring (driver-side only) and the suite's outcome work unchanged. ``out_dir``
must therefore be on a file system the driver and every node share (NFS, Lustre, GPFS, ...).

A task stopped at its time limit or preempted is requeued by submitit (``GroupJob.checkpoint``) and
its runs resume from their last harness checkpoint, up to ``resources.slurm.max_requeues`` times.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

try:
    import submitit
    from submitit.helpers import Checkpointable, DelayedSubmission
except ImportError as err:   # an optional dependency: say which install brings it
    raise ImportError("--executor slurm needs submitit: pip install 'marl-harness[slurm]' "
                      "(CI tests submitit==1.5.4)") from err

from harness.runner.loop import Event, execute_group
from harness.spec import RunSpec
from harness.store import BUSY, DONE, FAILED, RunFiles, wait_for_locks
from harness.suite.models import Resources

EventSink = Callable[[Event], None]
CLUSTERS = ("slurm", "local", "debug")
NODE_LOCAL = ("/tmp", "/var/tmp", "/dev/shm")   # paths a node never shares with the driver
LOG_LINES = 40                                   # lines of a failed job's stderr kept in error.txt


def default_cluster() -> str:
    """Slurm where ``sbatch`` is on PATH, else submitit's local executor (a process per task)."""
    return "slurm" if shutil.which("sbatch") else "local"


class RequeuesExhausted(BaseException):
    """Raised out of submitit's signal handler when a task may not be requeued again. A BaseException,
    so no run's own failure handling catches it: it unwinds the whole group to ``GroupJob.__call__``."""


# -- the array task -------------------------------------------------------------------------------
class GroupJob(Checkpointable):
    """One array task: a run group executed, or resumed, to its end. submitit calls ``checkpoint`` on
    the time-limit (or preemption) signal and requeues the pickled result; the next attempt resumes
    every run from its own harness checkpoint, since the run loop always restores one if it exists."""

    def __init__(self, group: Sequence[RunSpec], out_dir: Path, *, threads: int, max_requeues: int,
                 lock_wait_s: float, finished_before: dict[str, Any]) -> None:
        self.group = list(group)
        self.out_dir = Path(out_dir)
        self.threads = threads
        self.max_requeues = max_requeues
        self.lock_wait_s = lock_wait_s
        # each run's "finished" stamp when the driver submitted: a failure with another stamp is this job's
        self.finished_before = dict(finished_before)
        self.requeues = 0

    def __call__(self) -> list[dict[str, Any]]:
        torch.set_num_threads(self.threads)
        settled = {s.run_id: r for s in self.group if (r := self._settled(s)) is not None}
        todo = [s for s in self.group if s.run_id not in settled]
        results: list[dict[str, Any]] = []
        try:
            if todo:
                wait_for_locks([RunFiles.for_spec(self.out_dir, s) for s in todo], self.lock_wait_s)
                if self.requeues:
                    self._record_requeues(todo)
                results = execute_group(todo, self.out_dir, print_event)
        except RequeuesExhausted as stop:
            results = self._give_up(todo, str(stop))
        by_id = settled | {r["run_id"]: r for r in results}
        return [by_id[s.run_id] for s in self.group]

    def checkpoint(self) -> DelayedSubmission:
        """This task, one more requeue on its count, for submitit to requeue; past ``max_requeues`` the
        group's unfinished runs are recorded failed instead (no harness state needs saving here: the
        runs' checkpoints are on disk already)."""
        if self.requeues >= self.max_requeues:
            raise RequeuesExhausted(
                f"stopped at the job's time limit or preempted {self.requeues + 1} times; gave up after "
                f"resources.slurm.max_requeues={self.max_requeues} requeues")
        self.requeues += 1
        return DelayedSubmission(self)

    def _settled(self, spec: RunSpec) -> dict[str, Any] | None:
        """The run's outcome if it ended since the driver submitted (an earlier attempt of this task)."""
        status = RunFiles.for_spec(self.out_dir, spec).status()
        ended = status.get("status") == DONE or (
            status.get("status") == FAILED and status.get("finished") != self.finished_before.get(spec.run_id))
        if not ended:
            return None
        return {"run_id": spec.run_id, "status": status["status"], "reason": status.get("reason", "")}

    def _record_requeues(self, specs: list[RunSpec]) -> None:
        """``requeues`` in each run's status: this submission's count so far (the driver reports a retry)."""
        for spec in specs:
            files = RunFiles.for_spec(self.out_dir, spec)
            files.set_status(files.status()["status"], requeues=self.requeues)

    def _give_up(self, specs: list[RunSpec], reason: str) -> list[dict[str, Any]]:
        results = []
        for spec in specs:
            settled = self._settled(spec)
            if settled is not None:   # ended in this attempt before the signal
                results.append(settled)
                continue
            files = RunFiles.for_spec(self.out_dir, spec)
            (files.root / "error.txt").write_text(reason + "\n")
            files.set_status(FAILED, reason=reason, finished=time.time(), requeues=self.requeues)
            results.append({"run_id": spec.run_id, "status": FAILED, "reason": reason})
        return results


def print_event(event: Event) -> None:
    """A task's events go to its log (the driver reads the run folders instead); progress is skipped."""
    if event["type"] != "progress":
        keys = ("type", "run_id", "label", "t_env", "status", "reason")
        print(json.dumps({k: event[k] for k in keys if k in event}), flush=True)


# -- the driver's view of a run -------------------------------------------------------------------
class RunWatcher:
    """Turns one run's files into the events its task would have sent: start when an attempt of this
    submission starts the run, eval for each evaluation whose rows are complete, progress from the
    checkpointed env steps, retry when a requeued task takes the run up again, end when the status
    turns done or failed. What was on disk at submission (an earlier harness run's) is not reported."""

    def __init__(self, spec: RunSpec, out_dir: Path) -> None:
        self.spec = spec
        self.files = RunFiles.for_spec(out_dir, spec)
        base = self.files.status()
        self.base_finished = base.get("finished")
        self.started = base.get("started")        # the attempt a start event was sent for (or none since)
        self.requeues = base.get("requeues")
        # evaluations on disk at submission were reported by the run that made them (as inline resumes do)
        self.last_step = max((r["step"] for r in RunFiles.read_jsonl(self.files.evals_path)), default=-1)
        self.t_env = -1
        self.began = False                        # a start event was sent in this submission
        self.seen: tuple | None = None            # the record files and status as last read
        self.outcome: dict[str, Any] | None = None

    def poll(self, emit: EventSink) -> None:
        if self.outcome is not None:
            return
        status = self.files.status()
        requeues = status.get("requeues")
        if requeues != self.requeues:   # written by a requeued task as it takes its runs up again
            self.requeues = requeues
            if isinstance(requeues, int) and requeues > 0:
                emit({"type": "retry", "run_id": self.spec.run_id, "attempt": requeues,
                      "reason": "requeued after the job's time limit or a preemption"})
        began = status.get("started") not in (None, self.started)
        ended = status.get("status") in (DONE, FAILED) and status.get("finished") != self.base_finished
        if began or (ended and not self.began):   # an attempt of this submission (a requeue's too), or its end
            self.started = status.get("started", self.started)
            self.began, self.t_env = True, -1
            emit({"type": "start", "run_id": self.spec.run_id, "label": self.spec.label})
        if not self.began:
            return
        self._evaluations(status, ended, emit)
        t_env = status.get("t_env")
        if isinstance(t_env, int) and t_env > self.t_env:
            self.t_env = t_env
            emit({"type": "progress", "run_id": self.spec.run_id, "t_env": t_env})
        if ended:
            self.end(status["status"], status.get("reason", ""), emit)

    def _evaluations(self, status: dict[str, Any], ended: bool, emit: EventSink) -> None:
        """Emit the new evaluations, oldest first, while each is known to be whole: its rows are followed
        by a later evaluation, its training row, the checkpoint after it, or the run's end (the loop
        writes them in that order; status is read before the records, so what it proves is on disk)."""
        seen = (_stamp(self.files.evals_path), _stamp(self.files.train_path), status.get("t_env"), ended)
        if seen == self.seen:   # nothing changed since the last look: spare the file server a read
            return
        self.seen = seen
        rows = RunFiles.read_jsonl(self.files.evals_path)
        new = [r for r in rows if r["step"] > self.last_step]
        if not new:
            return
        train = RunFiles.read_jsonl(self.files.train_path)
        top = max(r["step"] for r in rows)
        trained = max((t["step"] for t in train), default=-1)
        checkpointed = status.get("t_env", -1) if isinstance(status.get("t_env"), int) else -1
        for step in sorted({r["step"] for r in new}):
            if not (ended or step < top or step <= trained or step <= checkpointed):
                return
            row = next((t for t in train if t["step"] == step), None)
            emit({"type": "eval", "run_id": self.spec.run_id, "t_env": step,
                  "summary": [r for r in new if r["step"] == step],
                  "train": {k: v for k, v in row.items() if k != "step"} if row else {}})
            self.last_step = step
            self.t_env = max(self.t_env, step)

    def end(self, status: str, reason: str, emit: EventSink) -> None:
        """The run's end event (once), after any evaluation not reported yet."""
        if self.outcome is not None:
            return
        if status != BUSY:
            self._evaluations(self.files.status(), True, emit)
        self.outcome = {"run_id": self.spec.run_id, "status": status, "reason": reason}
        emit({"type": "end", **self.outcome})

    def fail(self, reason: str, detail: str, emit: EventSink) -> None:
        """Record the run failed by its job (killed, out of memory, a submitit error), unless it finished."""
        if self.files.status().get("status") == DONE:
            self.end(DONE, "", emit)
            return
        self.files.create(self.spec)
        (self.files.root / "error.txt").write_text(detail + "\n")
        self.files.set_status(FAILED, reason=reason, finished=time.time())
        self.end(FAILED, reason, emit)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a file changed: appended to (size, time) or replaced by a rewrite (inode)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def finish_job(job: Any, watchers: list[RunWatcher], emit: EventSink) -> list[dict[str, Any]]:
    """A finished task's runs: whatever the files still hold is reported, then each run's end, from its
    status, the task's result, or the task's failure (its error and the tail of its stderr)."""
    for w in watchers:
        w.poll(emit)
    try:
        results = {r["run_id"]: r for r in job.result()}
        reason = detail = ""
    except Exception as err:  # noqa: BLE001 - the job failed outside the harness: its runs are told why
        results = {}
        reason, detail = job_failure(job, err)
    for w in watchers:
        if w.outcome is not None:
            continue
        r = results.get(w.spec.run_id)
        if r is not None:   # its task's word; the files may lag behind on a network file system
            w.end(r["status"], r.get("reason", ""), emit)
        else:
            w.fail(reason or f"slurm job {job.job_id} returned no result for the run", detail or reason, emit)
    return [w.outcome for w in watchers if w.outcome is not None]


def job_failure(job: Any, err: BaseException) -> tuple[str, str]:
    """(a one-line reason, the detail for error.txt) of a job that failed outside the harness."""
    try:
        log = "\n".join((job.stderr() or "").splitlines()[-LOG_LINES:])
    except OSError:
        log = ""
    detail = str(err) if not log or log in str(err) else f"{err}\n--- end of the job's stderr ---\n{log}"
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    try:
        state = job.state
    except Exception:  # noqa: BLE001 - the state is only a hint in the reason
        state = "unknown"
    hint = lines[-1] if lines else f"no result and nothing on stderr (killed?); see {job.paths.stdout}"
    return f"slurm job {job.job_id} ended ({state}) without finishing the run: {hint}", detail


# -- the executor -----------------------------------------------------------------------------------
class SlurmExecutor:
    """Run groups as one Slurm array job (``resources.slurm``); the driver waits, polling the run folders
    and the jobs, and cancels the jobs on Ctrl-C."""

    def __init__(self, resources: Resources | None = None, cluster: str | None = None,
                 folder: Path | None = None, *, poll_s: float = 2.0, lock_wait_s: float = 180.0,
                 state_check_s: float = 60.0) -> None:
        if cluster is not None and cluster not in CLUSTERS:
            raise ValueError(f"unknown submitit cluster {cluster!r}; allowed: {', '.join(CLUSTERS)}")
        self.resources = resources or Resources()
        self.cluster = cluster
        self.folder = folder
        self.poll_s = poll_s                  # seconds between looks at the run folders
        self.lock_wait_s = lock_wait_s        # how long a task waits for a dead attempt's run locks
        self.state_check_s = state_check_s    # seconds between forced job-state queries (sacct)

    def submitit_executor(self, out_dir: Path) -> submitit.AutoExecutor:
        """submitit's executor for this suite, with the job's resources set."""
        opts = self.resources.slurm
        cluster = self.cluster or default_cluster()
        folder = Path(self.folder or out_dir / "slurm").resolve()
        # submitit stops requeueing after its own count of time-outs: keep it above ours
        timeouts = opts.max_requeues + 1
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster, slurm_max_num_timeout=timeouts,
                                         local_max_num_timeout=timeouts)
        params: dict[str, Any] = dict(name=f"harness-{out_dir.name}", timeout_min=opts.time_min,
                                      cpus_per_task=opts.cpus_per_task, gpus_per_node=opts.gpus_per_node,
                                      mem_gb=opts.mem_gb, slurm_partition=opts.partition,
                                      slurm_array_parallelism=opts.array_parallelism)
        if opts.additional:
            params["slurm_additional_parameters"] = dict(opts.additional)
        executor.update_parameters(**params)
        return executor

    def run(self, groups: Sequence[list[RunSpec]], out_dir: Path, on_event: EventSink) -> list[dict]:
        groups = [list(g) for g in groups if g]
        if not groups:
            return []
        out_dir = Path(out_dir).resolve()   # the nodes' working directory may differ from ours
        executor = self.submitit_executor(out_dir)
        if executor.cluster == "slurm" and str(out_dir).startswith(NODE_LOCAL):
            print(f"warning: {out_dir} looks node-local; --executor slurm needs a folder every node shares",
                  file=sys.stderr)
        watchers = [[RunWatcher(s, out_dir) for s in g] for g in groups]   # before any task can write
        tasks = [GroupJob(g, out_dir, threads=self.resources.slurm.cpus_per_task,
                          max_requeues=self.resources.slurm.max_requeues, lock_wait_s=self.lock_wait_s,
                          finished_before={w.spec.run_id: w.base_finished for w in ws})
                 for g, ws in zip(groups, watchers)]
        jobs = executor.submit_array(tasks)
        print(f"submitted {len(jobs)} {executor.cluster} task(s) ({jobs[0].job_id.split('_')[0]}...); "
              f"logs in {executor.folder}", file=sys.stderr, flush=True)
        try:
            return self._wait(jobs, watchers, on_event)
        except KeyboardInterrupt:
            for job in jobs:
                try:
                    job.cancel(check=False)
                except Exception:  # noqa: BLE001 - cancel what can be cancelled, then stop
                    pass
            raise

    def _wait(self, jobs: list, watchers: list[list[RunWatcher]], on_event: EventSink) -> list[dict]:
        outcomes: dict[int, list[dict]] = {}
        pending = list(range(len(jobs)))
        last_check = time.monotonic()
        while pending:
            force = time.monotonic() - last_check >= self.state_check_s
            if force:
                last_check = time.monotonic()
            still = []
            for n, i in enumerate(pending):
                for w in watchers[i]:
                    w.poll(on_event)
                # one forced query refreshes every job of the array (submitit asks sacct for all at once)
                if jobs[i].done(force_check=force and n == 0):
                    outcomes[i] = finish_job(jobs[i], watchers[i], on_event)
                else:
                    still.append(i)
            pending = still
            if pending:
                time.sleep(self.poll_s)
        return [r for i in range(len(jobs)) for r in outcomes[i]]
