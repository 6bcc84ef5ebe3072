"""Reading learning checks off recorded runs: greedy test curves, their smoothed peak, and the win
rate of a random policy (what a learning bar must exceed). Shared by the slow learning benchmarks."""
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from harness import provenance
from harness.analysis.frame import load_frame
from harness.envs import make
from harness.envs.combat.policies import RandomPolicy
from harness.runner.suite_runner import run_specs, write_manifest
from harness.suite import expand, load_suite, suite_hash

SMOOTH = 3          # evaluations averaged before comparing with a threshold


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


def curves(frame) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """(scenario, seed) -> (steps, greedy test win rates) on the training composition set."""
    rows = frame[(frame.eval_set == "train") & (frame.composition == "all") & (frame.metric == "win_rate")]
    return {key: (g.step.to_numpy(), g.value.to_numpy())
            for key, g in rows.sort_values("step").groupby(["scenario", "seed"])}


def peak_smoothed(win_rate: np.ndarray, k: int = SMOOTH) -> float:
    """Best mean of k consecutive evaluations."""
    return float(np.convolve(win_rate, np.ones(k) / k, mode="valid").max()) if len(win_rate) >= k else 0.0


def run_suite(suite_path: Path, out: Path, benchmark, workers: int = 2) -> tuple[list, pd.DataFrame]:
    """Run (or resume) every run of a benchmark suite under ``benchmark`` and return its specs and
    tidy frame; finished runs are skipped, so a check can be spread over sessions."""
    suite = load_suite(suite_path)
    specs = expand(suite)
    write_manifest(out, suite.name, suite_path, suite_hash(suite_path), specs, provenance.collect())
    benchmark.pedantic(lambda: run_specs(specs, out, suite_name=suite.name, workers=workers,
                                         group_seeds=suite.training.group_seeds), rounds=1, iterations=1)
    return specs, load_frame(out, [s.run_id for s in specs])
