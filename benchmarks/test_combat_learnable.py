"""Acceptance check of the combat simulator: learnable, not trivial (marked slow: hours on 2 CPU cores).

QMIX (PyMARL's SMAC hyper-parameters) must reach >= 80 % greedy test win rate on 3m within 1M env
steps in at least 4 of 5 seeds while a random policy wins < 5 %, and learn measurably slower on
5m_vs_6m (lower AUC of the win-rate curve). Runs go to runs/combat-learnable and resume where they
stopped, so the check can be spread over several sessions:
    harness run suites/benchmarks/combat-learnable.yaml --workers 2
    pytest benchmarks/test_combat_learnable.py -m slow --benchmark-enable
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.analysis.frame import load_frame
from harness.analysis.metrics import per_run_metrics
from harness.envs import make
from harness.envs.combat.policies import RandomPolicy
from harness.runner.suite_runner import run_specs, write_manifest
from harness.suite import expand, load_suite, suite_hash

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "suites" / "benchmarks" / "combat-learnable.yaml"
OUT = ROOT / "runs" / "combat-learnable"


def random_win_rate(scenario: str, episodes: int = 256, seed: int = 0) -> float:
    env = make(scenario, batch_size=episodes, seed=seed)
    policy, step = RandomPolicy(env, seed=seed), env.reset()
    won = torch.zeros(episodes, dtype=torch.bool)
    for _ in range(env.info.episode_limit + 1):
        step = env.step(policy(step))
        won |= step.battle_won
        if bool(step.done.all()):
            break
    return won.float().mean().item()


@pytest.mark.slow
def test_qmix_learns_3m_and_learns_5m_vs_6m_slower(benchmark):
    suite = load_suite(SUITE)
    specs = expand(suite)
    write_manifest(OUT, suite.name, SUITE, suite_hash(SUITE), specs, {})
    benchmark.pedantic(lambda: run_specs(specs, OUT, suite_name=suite.name, workers=2), rounds=1, iterations=1)
    per_run = per_run_metrics(load_frame(OUT, [s.run_id for s in specs]))
    train = per_run[(per_run.eval_set == "train") & (per_run.composition == "all")]
    final_3m = train[(train.scenario == "3m") & (train.metric == "final_win_rate")].value.to_numpy()
    auc = {s: train[(train.scenario == s) & (train.metric == "auc_win_rate")].value.to_numpy()
           for s in ("3m", "5m_vs_6m")}
    benchmark.extra_info.update({"final_3m": final_3m.tolist(), "auc": {k: v.tolist() for k, v in auc.items()},
                                 "random_3m": random_win_rate("3m")})
    assert benchmark.extra_info["random_3m"] < 0.05
    assert (final_3m >= 0.8).sum() >= 4, final_3m
    assert np.mean(auc["5m_vs_6m"]) < np.mean(auc["3m"]), auc
