"""``CombatEnv(compile=True)`` (one torch.compile'd graph per step) follows eager mode, through
episode ends, autoreset from the reserve and explicit opponent actions.

Compiling takes 20-40 s per process on two cores; the test keeps batches small and shapes few.
"""
from __future__ import annotations

import torch

from harness.envs.combat import make_env
from harness.envs.combat.policies import RandomPolicy


def _trajectory(compile_: bool, enemy: bool):
    env = make_env("3m", batch_size=4, seed=7, autoreset=True, compile=compile_, reserve_size=4)
    step, policy, foe = env.reset(), RandomPolicy(env, seed=7), torch.Generator().manual_seed(1)
    out, restarts = [], 0
    for _ in range(70):
        enemy_actions = None
        if enemy:
            avail = env.enemy_avail_actions[..., :env.info.n_actions]
            enemy_actions = torch.where(avail, torch.rand(avail.shape, generator=foe), -1.0).argmax(-1)
        restarts += int(step.done.sum())
        step = env.step(policy(step), enemy_actions)
        out.append((step.obs, step.state, step.reward, step.avail_actions, env.battle.health.clone()))
    return out, restarts, env.compositions()


def test_compiled_env_follows_the_eager_trajectory():
    for enemy in (False, True):
        (eager, restarts, labels), (compiled, _, compiled_labels) = (_trajectory(c, enemy) for c in (False, True))
        assert restarts >= 4 and labels == compiled_labels
        for (obs_a, st_a, rew_a, av_a, hp_a), (obs_b, st_b, rew_b, av_b, hp_b) in zip(eager, compiled):
            assert torch.equal(av_a, av_b)
            assert torch.allclose(obs_a, obs_b, atol=1e-4) and torch.allclose(st_a, st_b, atol=1e-4)
            assert torch.allclose(rew_a, rew_b, atol=1e-5) and torch.allclose(hp_a, hp_b, atol=1e-3)
