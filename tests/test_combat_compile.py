"""``CombatEnv(compile=True)`` (torch.compile'd transition, views and opponent) matches eager mode.

Marked slow: a cold torch.compile of the three functions takes about 50 s on two shared cores.
Run with ``pytest -m slow tests/test_combat_compile.py``.
"""
from __future__ import annotations

import pytest
import torch

from harness.envs.combat import make_env
from harness.envs.combat.policies import RandomPolicy


@pytest.mark.slow
def test_compiled_env_follows_the_eager_trajectory():
    runs = []
    for compile_ in (False, True):
        env = make_env("3m", batch_size=4, seed=7, autoreset=True, compile=compile_)
        step, policy = env.reset(), RandomPolicy(env, seed=7)
        out = []
        for _ in range(12):
            step = env.step(policy(step))
            out.append((step.obs, step.reward, step.avail_actions, env.battle.health.clone()))
        runs.append(out)
    for (obs_a, rew_a, av_a, hp_a), (obs_b, rew_b, av_b, hp_b) in zip(*runs):
        assert torch.equal(av_a, av_b)
        assert torch.allclose(obs_a, obs_b, atol=1e-4) and torch.allclose(rew_a, rew_b, atol=1e-5)
        assert torch.allclose(hp_a, hp_b, atol=1e-3)
