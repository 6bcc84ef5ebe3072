"""Env steps per second of the combat simulator (eager and torch.compile'd) beside JaxMARL's SMAX
(jitted and vmapped) on the same machine, random available actions, autoreset on.

Both sides build what a QMIX-style learner reads: observations, global state, rewards, dones and
the next available actions; the entity view is off (SMAX has none), except in one 3m row that
prices it. SMAX's jitted step returns all of these: XLA drops the work behind an output nobody
reads, and a step returning only the new state skipped SMAX's observations (27m_vs_30m then ran
2.5x faster).

Run: pytest benchmarks/test_combat_throughput.py --benchmark-enable -m "not slow or slow"
The figure to read is ``extra_info["env_steps_per_s"]`` (= B / mean seconds per step); no timing is
asserted. SMAX rows are skipped when jaxmarl is not importable or SMAX lacks the scenario. On a
machine with CUDA, ``test_combat_env_steps_per_second_on_the_gpu`` adds B = 16 384 on the GPU.
"""
from __future__ import annotations

import os

import pytest
import torch

from harness.envs.combat import make_env
from harness.envs.combat.policies import RandomPolicy

SCENARIOS = ("3m", "5m_vs_6m", "27m_vs_30m", "3-8csz")
BATCHES = (1, 1024)
THREADS = int(os.environ.get("COMBAT_BENCH_THREADS", "1"))


def _rounds(batch: int, scenario: str) -> int:
    if batch == 1:
        return 200
    return 5 if scenario == "27m_vs_30m" else 20


def _combat_rate(benchmark, scenario, batch, mode, entity_view=False, device="cpu"):
    torch.set_num_threads(THREADS)
    env = make_env(scenario, batch_size=batch, seed=0, autoreset=True, compile=mode == "compiled",
                   entity_view=entity_view, device=device)
    policy = RandomPolicy(env, seed=0)
    box = {"step": env.reset()}
    for _ in range(3):  # warm-up (compiles in compiled mode)
        box["step"] = env.step(policy(box["step"]))
    sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)

    def one_step():
        box["step"] = env.step(policy(box["step"]))
        sync()

    benchmark.group = f"{scenario} B={batch}"
    benchmark.pedantic(one_step, rounds=_rounds(batch, scenario), iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(simulator=f"combat-{mode}" + ("+entities" if entity_view else ""), threads=THREADS,
                                device=str(env.device), env_steps_per_s=batch / benchmark.stats.stats.mean)


def _smax_rate(benchmark, scenario, batch):
    pytest.importorskip("jaxmarl")
    import jax
    import jax.numpy as jnp
    from jaxmarl.environments.smax import SMAX, map_name_to_scenario
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

    if scenario not in MAP_NAME_TO_SCENARIO:
        pytest.skip(f"SMAX has no {scenario} (no colossus, no composition sets)")
    env = SMAX(scenario=map_name_to_scenario(scenario))
    agents = env.agents

    def random_actions(key, avail):
        keys = jax.random.split(key, len(agents))
        return {a: jax.random.categorical(k, jnp.log(avail[a].astype(jnp.float32))) for a, k in zip(agents, keys)}

    def step_one(key, state, avail):
        # Everything a learner reads comes out of the jitted call: a discarded output would be
        # dead code to XLA, and SMAX would be timed without building its observations.
        k_act, k_step = jax.random.split(key)
        obs, state, rewards, dones, _ = env.step(k_step, state, random_actions(k_act, avail))
        return state, env.get_avail_actions(state), obs, rewards, dones

    step_batch = jax.jit(jax.vmap(step_one))
    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    _, states = jax.jit(jax.vmap(env.reset))(keys)
    avail = jax.jit(jax.vmap(env.get_avail_actions))(states)
    box = {"out": step_batch(keys, states, avail), "key": jax.random.PRNGKey(1)}
    jax.block_until_ready(box["out"])

    def one_step():
        box["key"], sub = jax.random.split(box["key"])
        states, avail = box["out"][:2]
        box["out"] = step_batch(jax.random.split(sub, batch), states, avail)
        jax.block_until_ready(box["out"])

    benchmark.group = f"{scenario} B={batch}"
    benchmark.pedantic(one_step, rounds=_rounds(batch, scenario), iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(simulator="smax-jit-vmap", env_steps_per_s=batch / benchmark.stats.stats.mean)


# One test per (scenario, batch), simulators side by side: this VM's speed drifts within minutes,
# so the rows whose ratio is read run next to each other.
@pytest.mark.parametrize("simulator", ["combat-eager", "combat-compiled", "smax"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_env_steps_per_second(benchmark, scenario, batch, simulator):
    if simulator == "smax":
        _smax_rate(benchmark, scenario, batch)
    else:
        _combat_rate(benchmark, scenario, batch, simulator.removeprefix("combat-"))


def test_combat_env_steps_per_second_with_the_entity_view(benchmark):
    _combat_rate(benchmark, "3m", 1024, "compiled", entity_view=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_combat_env_steps_per_second_on_the_gpu(benchmark, scenario):
    """B = 16 384 compiled on the GPU (no SMAX row: this jaxmarl install is CPU-only)."""
    _combat_rate(benchmark, scenario, 16384, "compiled", device="cuda")
