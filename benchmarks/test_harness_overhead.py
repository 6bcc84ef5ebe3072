"""Harness overhead: one run with tracking, checkpoints and evaluation bookkeeping against the same
training loop with all of that off, in the same process. Report: ``overhead = tracked / bare - 1``."""
import statistics
import time
from pathlib import Path

import pytest
import torch

from harness.runner.loop import RunLoop
from harness.runner.suite_runner import run_specs
from harness.spec import RunSpec
from harness.tracking import Tracker

SCENARIOS = {
    # (scenario, budget): a matrix game (worst case: tiny learner steps) and a combat map
    "climbing": 3000,
    "3m": 3000,
}


def _spec(scenario: str, budget: int, seed: int) -> RunSpec:
    return RunSpec(suite="overhead", algorithm="qmix", algorithm_config={"batch_size": 16}, scenario=scenario,
                   seed=seed, budget_env_steps=budget, eval_interval=budget // 5, eval_episodes=16, device="cpu")


def _bare(spec: RunSpec, out: Path) -> float:
    start = time.perf_counter()
    RunLoop(spec, out, lambda e: None, device="cpu", tracking_enabled=False).run()
    return time.perf_counter() - start


def _tracked(spec: RunSpec, out: Path, tracker: Tracker) -> float:
    start = time.perf_counter()
    run_specs([spec], out, suite_name="overhead", executor="inline", tracker_factory=lambda: tracker)
    return time.perf_counter() - start


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_tracking_overhead(benchmark, tmp_path, scenario):
    torch.set_num_threads(1)
    budget = SCENARIOS[scenario]
    tracker = Tracker(tmp_path / "tracked", "overhead")  # suite-level setup, once per suite
    bare, tracked = [], []
    for rep in range(5):  # interleave to cancel drift in machine load
        bare.append(_bare(_spec(scenario, budget, rep), tmp_path / "bare"))
        tracked.append(_tracked(_spec(scenario, budget, rep), tmp_path / "tracked", tracker))
    overhead = statistics.median(tracked) / statistics.median(bare) - 1.0
    benchmark.extra_info.update({"bare_s": bare, "tracked_s": tracked, "overhead": overhead})
    print(f"\n{scenario}: bare {statistics.median(bare):.2f}s tracked {statistics.median(tracked):.2f}s "
          f"overhead {100 * overhead:+.1f}%")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
