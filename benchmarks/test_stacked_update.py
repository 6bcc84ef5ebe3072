"""The cost of one stacked QMIX update (forward and backward of the TD loss, PyMARL's sizes: batch 32
episodes of 3m padded to 60 steps) against the number of runs stacked, eager and under torch.compile,
side by side in one process. Per-run cost = time / runs; no timing is asserted.

Run: pytest benchmarks/test_stacked_update.py --benchmark-enable -m slow -s
(compiled rows take about 3 minutes of compiling each; STACKED_COMPILE=0 leaves them out)
"""
from __future__ import annotations

import os
import time

import pytest
import torch
from torch.func import functional_call, vmap

from algorithms import registry
from algorithms.base import Protocol
from algorithms.calls import _stack, _stack_args
from harness.envs import make
from harness.runner.rollout import collect

RUNS = (1, 2, 3, 5, 8)
REPEATS = 5


def _update_fn(runs: int, compiled: bool):
    env = make("3m", batch_size=32, seed=0)
    cls = registry.get("qmix")
    algs = []
    for r in range(runs):
        torch.manual_seed(r)
        algs.append(cls(env.info, cls.config_cls.from_overrides({}), torch.device("cpu"), Protocol("terminal")))
    batch, _ = collect(env, algs[0], t_env=0, explore=True, generator=torch.Generator().manual_seed(0), seed=1)
    mods = [a.learner.loss for a in algs]
    fn = vmap(lambda p, b, a: functional_call(mods[0], (p, b), a))
    if compiled:
        fn = torch.compile(fn, dynamic=False)

    def update():
        params = _stack([dict(m.named_parameters()) for m in mods], True)
        buffers = _stack([dict(m.named_buffers()) for m in mods], False)
        args = _stack_args([(batch.tensors(),) for _ in mods], True)
        fn(params, buffers, args)[0].sum().backward()
    return update, batch.max_t


@pytest.mark.slow
def test_stacked_update_cost(benchmark):
    torch.set_num_threads(1)
    rows = {}
    modes = ("eager", "compiled") if os.environ.get("STACKED_COMPILE", "1") != "0" else ("eager",)
    for mode in modes:
        for runs in (RUNS if mode == "eager" else (1, 5)):
            update, steps = _update_fn(runs, mode == "compiled")
            start = time.perf_counter()
            update()                                  # warm-up (compiles when compiled)
            first = time.perf_counter() - start
            start = time.perf_counter()
            for _ in range(REPEATS):
                update()
            per = (time.perf_counter() - start) / REPEATS
            rows[f"{mode} x{runs}"] = {"ms": 1000 * per, "ms_per_run": 1000 * per / runs, "first_s": first,
                                       "steps": steps}
    base = rows["eager x1"]["ms"]
    print("\nstacked QMIX update, 1 thread (batch 32 episodes, %d steps)" % rows["eager x1"]["steps"])
    for name, row in rows.items():
        print(f"  {name:12s} {row['ms']:7.1f} ms  per run {row['ms_per_run']:6.1f} ms "
              f"({base / row['ms_per_run']:.2f}x cheaper than one eager run)  first call {row['first_s']:.1f} s")
    benchmark.extra_info.update({"rows": rows, "torch": torch.__version__})
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
