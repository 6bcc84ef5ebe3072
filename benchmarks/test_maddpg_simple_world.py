"""Continuous-control check (marked slow: minutes): MADDPG on Simple World ends at one of the two optima
in every one of 5 seeds, with a return a uniformly random joint action cannot reach (0.70 on average),
and reports per seed which optimum it found (reports/maddpg-simple-world/optima.md).
    harness run suites/benchmarks/maddpg-simple-world.yaml --workers 2
    pytest benchmarks/test_maddpg_simple_world.py -m slow --benchmark-enable
"""
from pathlib import Path

import pytest

from harness.envs.simple_world import GLOBAL_REWARD, LOCAL_REWARD, uniform_mean_reward
from learning_curves import run_suite

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "suites" / "benchmarks" / "maddpg-simple-world.yaml"
OUT = ROOT / "runs" / "maddpg-simple-world"
REPORT = ROOT / "reports" / "maddpg-simple-world" / "optima.md"
AT_OPTIMUM = 0.1    # a greedy return this close to an optimum's reward is that optimum


def optimum(final_return: float) -> str:
    """Which optimum a greedy joint action's (deterministic) return belongs to."""
    if abs(final_return - GLOBAL_REWARD) <= AT_OPTIMUM:
        return "global (-6, -6)"
    if abs(final_return - LOCAL_REWARD) <= AT_OPTIMUM:
        return "local (4, 3)"
    return "none"


@pytest.mark.slow
def test_maddpg_ends_at_an_optimum_in_every_seed(benchmark):
    specs, frame = run_suite(SUITE, OUT, benchmark)
    rows = frame[(frame.eval_set == "train") & (frame.composition == "all") & (frame.metric == "return_mean")]
    final = {int(seed): float(g.sort_values("step").value.iloc[-1]) for seed, g in rows.groupby("seed")}
    found = {seed: optimum(r) for seed, r in final.items()}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("# MADDPG on Simple World: the optimum each seed ends at\n\n"
                      f"Suite `{SUITE.relative_to(ROOT)}`; final greedy return (deterministic) per seed. The local "
                      f"optimum pays {LOCAL_REWARD:.2f}, the global {GLOBAL_REWARD:.2f}; a uniformly random joint "
                      f"action earns {uniform_mean_reward():.4f} on average.\n\n| seed | final return | optimum |\n"
                      "| --- | --- | --- |\n"
                      + "".join(f"| {s} | {final[s]:.3f} | {found[s]} |\n" for s in sorted(final)))
    benchmark.extra_info.update({"final_return": final, "optimum": found})
    assert len(final) == 5 and all(v != "none" for v in found.values()), found
    assert min(final.values()) > 4 * uniform_mean_reward()
