"""Greedy evaluation on the training compositions and each declared evaluation set, with fixed seeds."""
from __future__ import annotations

import math
from collections import defaultdict

import torch

from algorithms.base import Algorithm
from harness.envs.base import BatchedEnv
from algorithms.calls import Program, drive
from harness.runner.rollout import collect_program
from harness.runner.seeding import derive_seed


def evaluate(algorithm: Algorithm, envs: dict[str, BatchedEnv], *, episodes: int, t_env: int,
             eval_seed: int, greedy: bool = True) -> list[dict]:
    """Per-episode records (eval_set, composition, episode, won, return, length, step) for every set.

    Every evaluation round uses the same seeds, so differences between rounds come from the policy.
    """
    return drive(evaluate_program(algorithm, envs, episodes=episodes, t_env=t_env, eval_seed=eval_seed,
                                  greedy=greedy))


def evaluate_program(algorithm: Algorithm, envs: dict[str, BatchedEnv], *, episodes: int, t_env: int,
                     eval_seed: int, greedy: bool = True) -> Program:
    """:func:`evaluate` as a program (its policy evaluations are calls a run group batches)."""
    records: list[dict] = []
    for set_name, env in envs.items():
        rounds = math.ceil(episodes / env.batch_size)
        generator = torch.Generator().manual_seed(derive_seed(eval_seed, set_name, "actions"))
        n = 0
        for r in range(rounds):
            _, stats = yield from collect_program(env, algorithm, t_env=t_env, explore=not greedy,
                                                  generator=generator, seed=derive_seed(eval_seed, set_name, r),
                                                  keep_batch=False)
            for i in range(env.batch_size):
                if n >= episodes:
                    break
                records.append({"step": t_env, "eval_set": set_name, "composition": stats.compositions[i],
                                "episode": n, "won": bool(stats.won[i]), "return": float(stats.returns[i]),
                                "length": int(stats.lengths[i])})
                n += 1
    return records


def summarise(records: list[dict]) -> list[dict]:
    """Aggregate records per (step, eval_set, composition), plus composition "all" per eval set."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["step"], r["eval_set"], r["composition"])].append(r)
        groups[(r["step"], r["eval_set"], "all")].append(r)
    rows = []
    for (step, eval_set, comp), rs in sorted(groups.items()):
        n = len(rs)
        rows.append({"step": step, "eval_set": eval_set, "composition": comp, "episodes": n,
                     "win_rate": sum(r["won"] for r in rs) / n,
                     "return_mean": sum(r["return"] for r in rs) / n,
                     "episode_length": sum(r["length"] for r in rs) / n})
    return rows
