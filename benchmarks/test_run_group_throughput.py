"""Run groups against one-run-at-a-time training, side by side in one process: the same seeds and
settings trained (a) one after another, (b) two at a time in two worker processes, (c) as one run
group of all seeds, (d) as two groups in two workers.

The figure is training env steps per second per run after warm-up (from ``WARM`` env steps, when
the learner has started and the first calls are behind it, to the budget), times the number of runs
that train at once: the suite's throughput. Every mode computes the same numbers (a run's records do
not depend on its group, tests/test_run_groups.py), so the modes do identical work. No timing is
asserted; read ``extra_info`` or the printed table.

Run: pytest benchmarks/test_run_group_throughput.py --benchmark-enable -m slow -s
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import pytest
import torch

from harness.runner.executors import ProcessExecutor
from harness.runner.groups import plan_groups
from harness.runner.loop import execute_group, execute_run
from harness.spec import RunSpec

SEEDS = (0, 1, 2, 3, 4)
ENV_OPTIONS = {"3m": {"compile": True}}   # as suites/benchmarks/pymarl-3m.yaml (compiled on the first step)
THREADS = int(os.environ.get("GROUP_BENCH_THREADS", "2"))   # the machine's cores

# algorithm -> (scenario, overrides, n_envs, warm-up env steps, budget): PyMARL's protocol for the
# value-based ones (one update per episode, time-outs terminal, batch 32 episodes); MAPPO one round of
# 400 steps x 8 envs per update; MADDPG one update per env step on Simple World
CASES = {
    "qmix": ("3m", {}, 8, 3_000, 7_000),
    "vdn": ("3m", {}, 8, 3_000, 7_000),
    "mappo": ("3m", {"horizon": 100}, 8, 1_600, 6_400),
    "maddpg": ("simple_world", {"batch_size": 256, "warmup": 256}, 8, 400, 2_400),
}


def _specs(alg: str) -> list[RunSpec]:
    scen, over, n_envs, _, budget = CASES[alg]
    return [RunSpec(suite="group-throughput", algorithm=alg, algorithm_config=over, scenario=scen, seed=s,
                    budget_env_steps=budget, eval_interval=budget, eval_episodes=8, n_envs=n_envs,
                    time_limit="terminal", device="cpu", env_options=ENV_OPTIONS.get(scen, {})) for s in SEEDS]


class _Clock:
    """When each run first reached the warm-up step and its budget (from progress events)."""

    def __init__(self, warm: int, budget: int) -> None:
        self.warm, self.budget = warm, budget
        self.marks: dict[str, dict[str, tuple[float, int]]] = {}

    def __call__(self, event: dict) -> None:
        if event["type"] != "progress":
            return
        now, t = time.perf_counter(), event["t_env"]
        marks = self.marks.setdefault(event["run_id"], {})
        if t >= self.warm and "warm" not in marks:
            marks["warm"] = (now, t)
        if t >= self.budget and "end" not in marks:
            marks["end"] = (now, t)

    def rates(self) -> list[float]:
        """Env steps per second of each run between its warm-up mark and its end."""
        return [(m["end"][1] - m["warm"][1]) / (m["end"][0] - m["warm"][0]) for m in self.marks.values()]


def _sequential(specs, out: Path, clock: _Clock) -> None:
    for spec in specs:
        execute_run(spec, out, clock)


def _grouped(specs, out: Path, clock: _Clock) -> None:
    execute_group(specs, out, clock)


def _workers(groups, out: Path, clock: _Clock) -> None:
    ProcessExecutor(2).run(groups, out, clock)


@pytest.mark.slow
@pytest.mark.parametrize("alg", list(CASES))
def test_run_group_throughput(benchmark, tmp_path, alg):
    torch.set_num_threads(THREADS)
    _, _, _, warm, budget = CASES[alg]
    specs = _specs(alg)
    n = len(specs)
    modes = {
        # name: (runner, runs training at once)
        "sequential": (lambda out, c: _sequential(specs, out, c), 1),
        "2 workers": (lambda out, c: _workers([[s] for s in specs[:2]], out, c), 2),
        f"group of {n}": (lambda out, c: _grouped(specs, out, c), n),
        "2 workers x group": (lambda out, c: _workers(plan_groups(specs, True, 2), out, c), n),
    }
    table = {}
    for name, (runner, at_once) in modes.items():
        clock = _Clock(warm, budget)
        start = time.perf_counter()
        runner(tmp_path / name.replace(" ", "_"), clock)
        wall = time.perf_counter() - start
        rates = clock.rates()
        per_run = statistics.median(rates)
        if name == "2 workers x group":   # groups of 3 and 2: each group's runs at its own pace
            per_run = statistics.mean(rates)
        table[name] = {"per_run_env_steps_per_s": per_run, "runs_at_once": at_once,
                       "throughput": per_run * at_once, "wall_s": wall, "rates": rates}
    base = table["sequential"]["throughput"]
    for row in table.values():
        row["speedup"] = row["throughput"] / base
    benchmark.extra_info.update({"threads": THREADS, "warm": warm, "budget": budget, "modes": table,
                                 "torch": torch.__version__})
    print(f"\n{alg}: env steps/s per run after {warm} steps, to {budget} ({THREADS} threads)")
    for name, row in table.items():
        print(f"  {name:18s} per run {row['per_run_env_steps_per_s']:8.1f}  x{row['runs_at_once']}  "
              f"= {row['throughput']:8.1f}  speedup {row['speedup']:.2f}  (wall {row['wall_s']:.0f}s)")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


GPU_SCENARIOS = ("3m", "5m_vs_6m")
GPU_SEEDS = 32
OPT_QMIX_ROW = 30 * 2_000_000     # OPT's Table 1, QMIX row: 6 maps x 5 seeds x 2 M env steps


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("scenario", GPU_SCENARIOS)
def test_run_group_on_the_gpu(benchmark, tmp_path, scenario):
    """A group of 32 QMIX seeds with PyMARL's protocol on one GPU: env steps per second of the group
    after warm-up, peak GPU memory, and the projected wall time of OPT Table 1's QMIX row."""
    warm, budget = 2_000, 6_000
    specs = [RunSpec(suite="group-gpu", algorithm="qmix", algorithm_config={"buffer_device": "same"},
                     scenario=scenario, seed=s, budget_env_steps=budget, eval_interval=budget, eval_episodes=8,
                     n_envs=8, time_limit="terminal", device="cuda", env_options={"compile": True})
             for s in range(GPU_SEEDS)]
    torch.cuda.reset_peak_memory_stats()
    clock = _Clock(warm, budget)
    start = time.perf_counter()
    results = execute_group(specs, tmp_path, clock)
    wall = time.perf_counter() - start
    assert all(r["status"] == "done" for r in results), results
    per_run = statistics.median(clock.rates())
    group_rate = per_run * GPU_SEEDS
    info = {"per_run_env_steps_per_s": per_run, "group_env_steps_per_s": group_rate, "wall_s": wall,
            "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
            "device": torch.cuda.get_device_name(), "opt_qmix_row_hours": OPT_QMIX_ROW / group_rate / 3600}
    benchmark.extra_info.update(info)
    print(f"\n{scenario}: {info}")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
