"""Fidelity against JaxMARL's SMAX: same start positions and action sequences, SMAX-compatible rules.

Both simulators run with the cooldown jitter switched off (SMAX draws it from JAX's RNG, which we
cannot reproduce), so trajectories are deterministic and must agree to float32 rounding.
Tolerance: |Δposition| <= 1e-3 and |Δhealth| <= 1e-3 at every one of 60 agent steps.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

jax = pytest.importorskip("jaxmarl") and pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
smax = pytest.importorskip("jaxmarl.environments.smax")

from harness.envs.combat import Composition, Rules, make_env  # noqa: E402
from harness.envs.combat.maps import MAPS  # noqa: E402

STEPS = 60
POS_TOL = 1e-3
HEALTH_TOL = 1e-3
ATTACK_BIAS = 0.2
# our action (0 no-op, 1 stop, 2 N, 3 S, 4 E, 5 W) -> SMAX's (0 N, 1 E, 2 S, 3 W, 4 stop)
TO_SMAX_MOVE = np.array([4, 4, 0, 2, 1, 3])


def _no_jitter(monkeypatch):
    """SMAX's only in-step randomness is the cooldown jitter; make it zero (after SMAX's reset drew
    the random start positions)."""
    def zero_uniform(key, shape=(), dtype=jnp.float32, minval=0.0, maxval=1.0):
        return jnp.zeros(shape, dtype=dtype)
    monkeypatch.setattr(jax.random, "uniform", zero_uniform)


def _to_smax(ours: np.ndarray, team: int, n_allies: int) -> np.ndarray:
    out = np.where(ours < 6, TO_SMAX_MOVE[np.minimum(ours, 5)], 0)
    target = ours - 6
    if team == 0:
        return np.where(ours >= 6, 5 + target, out)
    return np.where(ours >= 6, 5 + (n_allies - 1 - target), out)  # SMAX lists allies reversed for enemies


def _random_available(avail: torch.Tensor, rng: np.random.Generator, attack_bias: float) -> np.ndarray:
    a = avail[0].numpy()
    out = []
    for row in a:
        choices = np.flatnonzero(row)
        attacks = choices[choices >= 6]
        if len(attacks) and rng.random() < attack_bias:
            out.append(rng.choice(attacks))
        else:
            out.append(rng.choice(choices))
    return np.array(out)


@pytest.mark.parametrize("name", ["3m", "2s3z", "6h_vs_8z", "5m_vs_6m"])
def test_trajectories_match_smax(name, monkeypatch):
    spec = MAPS[name]
    scenario = smax.map_name_to_scenario(name)
    ref = smax.SMAX(scenario=scenario)
    _, ref_state = ref.reset(jax.random.PRNGKey(3))
    _no_jitter(monkeypatch)
    env = make_env(name, batch_size=1, seed=0, rules=Rules.smax(cooldown_jitter=False))
    allies = tuple(t for t, c in spec.allies for _ in range(c))
    enemies = tuple(t for t, c in spec.enemies for _ in range(c))
    start = torch.tensor(np.asarray(ref_state.unit_positions), dtype=torch.float32)[None]
    step = env.reset_to(Composition(allies, enemies), start, separation_passes=0)
    rng = np.random.default_rng(0)
    key = jax.random.PRNGKey(0)
    A = len(allies)
    for t in range(STEPS):
        ours_a = _random_available(step.avail_actions, rng, ATTACK_BIAS)
        ours_e = _random_available(env.enemy_avail_actions, rng, ATTACK_BIAS)
        actions = {f"ally_{i}": int(a) for i, a in enumerate(_to_smax(ours_a, 0, A))}
        actions.update({f"enemy_{i}": int(a) for i, a in enumerate(_to_smax(ours_e, 1, A))})
        key, sub = jax.random.split(key)
        _, ref_state, _, ref_dones, _ = ref.step_env(sub, ref_state, actions)
        step = env.step(torch.tensor(ours_a)[None], enemy_actions=torch.tensor(ours_e)[None])
        pos = env.battle.pos[0].numpy()
        health = env.battle.health[0].numpy()
        np.testing.assert_allclose(pos, np.asarray(ref_state.unit_positions), atol=POS_TOL, rtol=0,
                                   err_msg=f"{name}: positions differ at step {t + 1}")
        np.testing.assert_allclose(health, np.asarray(ref_state.unit_health), atol=HEALTH_TOL, rtol=0,
                                   err_msg=f"{name}: health differs at step {t + 1}")
        assert bool(step.terminated[0]) == bool(ref_dones["__all__"]) or t + 1 >= ref.max_steps
        if bool(step.done[0]):
            break
    assert t + 1 >= 50, f"{name}: the battle ended after only {t + 1} steps; pick another seed"
