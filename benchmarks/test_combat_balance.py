"""Balance of the combat simulator beside JaxMARL's SMAX: win rates of the same scripted ally policies
against each simulator's scripted opponent, from random starts, 1024 episodes each.

Run: pytest benchmarks/test_combat_balance.py --benchmark-enable -m "not slow or slow" -s
(SMAX rows need jaxmarl: the ``combat-fidelity`` tox env has it). The figures are in each row's
``extra_info`` and printed with ``-s``; nothing is asserted beyond a random policy never winning,
since the point is the side-by-side table (docs/combat.md, "Balance").
"""
from __future__ import annotations

import pytest

from harness.envs.combat import Rules, make_env
from harness.envs.combat.policies import FocusFirePolicy, PullBackPolicy, RandomPolicy, ScriptedPolicy

EPISODES = 1024
SCENARIOS = ("3m", "5m_vs_6m")
RULES = {"sc2": Rules(), "sc2-no-chase": Rules(chase_targets=False), "smax": Rules.smax()}
POLICIES = {"random": lambda env: RandomPolicy(env, seed=0), "scripted": ScriptedPolicy,
            "focus-fire": FocusFirePolicy, "pull-back": PullBackPolicy}


def combat_win_rate(scenario: str, policy: str, rules: Rules) -> float:
    env = make_env(scenario, batch_size=EPISODES, seed=0, rules=rules)
    step, act = env.reset(seed=7), POLICIES[policy](env)
    for _ in range(env.info.episode_limit + 1):
        step = env.step(act(step))
        if bool(step.done.all()):
            break
    return float(step.battle_won.float().mean())


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("rules", list(RULES))
def test_combat_balance(benchmark, scenario, rules):
    rates = {}

    def measure():
        rates.update({p: combat_win_rate(scenario, p, RULES[rules]) for p in POLICIES})

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(simulator=f"combat-{rules}", scenario=scenario, win_rates=rates)
    print(f"\ncombat ({rules}) {scenario}: {rates}")
    assert rates["random"] < 0.05


def smax_win_rate(scenario: str, policy: str) -> float:
    """Allies driven by ``policy`` against SMAX's heuristic enemy (``HeuristicEnemySMAX``)."""
    import jax
    import jax.numpy as jnp
    from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario
    from jaxmarl.environments.smax.heuristic_enemy import (create_heuristic_policy,
                                                           get_heuristic_policy_initial_state)

    env = HeuristicEnemySMAX(scenario=map_name_to_scenario(scenario))
    A, N = env.num_allies, env.num_enemies
    heuristic = create_heuristic_policy(env._env, 0, attack_mode="closest")
    moves = jnp.array([[0, 1], [1, 0], [0, -1], [-1, 0]], dtype=jnp.float32)  # SMAX: N, E, S, W

    def act(key, st, obs, memory):
        avail = jnp.stack([env.get_avail_actions(st)[f"ally_{i}"] for i in range(A)]).astype(bool)
        if policy == "random":
            logits = jnp.where(avail, 0.0, -jnp.inf)
            return jax.vmap(jax.random.categorical)(jax.random.split(key, A), logits), memory
        if policy == "scripted":
            o = jnp.stack([obs[f"ally_{i}"] for i in range(A)])
            return jax.vmap(heuristic)(jax.random.split(key, A), memory, o)
        # focus fire: the attackable enemy with the least health, else walk to the closest live enemy
        s = st.state
        can = avail[:, 5:5 + N]
        pick = jnp.argmin(jnp.where(can, s.unit_health[A:][None], jnp.inf), axis=-1) + 5
        d = s.unit_positions[A:][None] - s.unit_positions[:A][:, None]
        dist = jnp.where(s.unit_alive[A:][None], jnp.linalg.norm(d, axis=-1), jnp.inf)
        to_near = d[jnp.arange(A), jnp.argmin(dist, axis=-1)]
        return jnp.where(can.any(-1), pick, jnp.argmax(to_near @ moves.T, axis=-1)), memory

    def episode(key):
        key, k0 = jax.random.split(key)
        obs, st = env.reset(k0)
        memory = jax.tree.map(lambda *x: jnp.stack(x), *([get_heuristic_policy_initial_state()] * A))

        def body(carry, _):
            key, obs, st, memory, done, won = carry
            key, k_act, k_step = jax.random.split(key, 3)
            a, memory = act(k_act, st, obs, memory)
            obs, st, _, dones, _ = env.step_env(k_step, st, {f"ally_{i}": a[i] for i in range(A)})
            alive = st.state.unit_alive
            ended = dones["__all__"] & ~done
            won = jnp.where(ended, ~alive[A:].any() & alive[:A].any(), won)
            return (key, obs, st, memory, done | dones["__all__"], won), None

        init = (key, obs, st, memory, jnp.array(False), jnp.array(False))
        (*_, won), _ = jax.lax.scan(body, init, None, length=env.max_steps + 1)
        return won

    won = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(0), EPISODES))
    return float(won.mean())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_smax_balance(benchmark, scenario):
    pytest.importorskip("jaxmarl")
    rates = {}

    def measure():
        rates.update({p: smax_win_rate(scenario, p) for p in ("random", "scripted", "focus-fire")})

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(simulator="smax", scenario=scenario, win_rates=rates)
    print(f"\nSMAX {scenario}: {rates}")
    assert rates["random"] < 0.05
