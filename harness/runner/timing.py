"""How fast a run went: seconds spent collecting, learning and evaluating, and peak memory.

The clocks live in the run's checkpointed counters, so a resumed run reports the time of all its
segments. In a run group the runs' programs interleave and their network calls are batched, so
each run's phase times are the group's: compare grouped runs with grouped runs.
"""
from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager
from typing import Iterator

import torch

PHASES = ("collect", "learn", "eval")


@contextmanager
def timed(clock: dict[str, float], phase: str) -> Iterator[None]:
    """Add the wall time of the block to ``clock[phase]`` (seconds, perf_counter)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        clock[phase] = clock.get(phase, 0.0) + time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (a worker that ran several runs reports
    the peak over all of them)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10     # bytes on macOS, KiB on Linux


def speed_record(clock: dict[str, float], t_env: int, device: torch.device) -> dict[str, float]:
    """What a finished run records about its speed (status.json ``speed``, MLflow ``speed.*``):
    seconds per phase, env steps per second of training (collection + learning), of collection
    and of learning alone, and peak memory (CUDA: the allocator's peak since the run started)."""
    collect, learn, evaluate = (float(clock.get(p, 0.0)) for p in PHASES)
    out = {"collect_seconds": collect, "learn_seconds": learn, "eval_seconds": evaluate,
           "steps_per_second": t_env / (collect + learn) if collect + learn > 0 else float("nan"),
           "collect_steps_per_second": t_env / collect if collect > 0 else float("nan"),
           "learn_steps_per_second": t_env / learn if learn > 0 else float("nan"),
           "peak_rss_mb": peak_rss_mb()}
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out
