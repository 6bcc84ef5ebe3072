"""Attention MAPPO: one set of parameters for any team size (padded entity slots change neither the
policy nor the values), and training on 3-5 agents then evaluating zero-shot on 6 (its learning of
MIPI's training game is a case of tests/test_actor_critic.py)."""
from __future__ import annotations

import json

import pytest
import torch

from algorithms import registry
from algorithms.actor_critic.attention_mappo import AttentionMAPPO, AttentionMAPPOConfig
from algorithms.components.critics import EntityValue
from algorithms.components.entities import EntityAgent, EntityController
from harness.analysis.generalisation import team_size
from harness.envs.base import CompositionSpec
from harness.runner.loop import RunLoop
from harness.spec import RunSpec


def test_padded_entity_slots_change_neither_the_policy_nor_the_values():
    torch.manual_seed(0)
    critic = EntityValue(entity_dim=5, embed_dim=8, heads=2, hidden_dim=8)
    actor = EntityController(2, 3, EntityAgent(5, 3, embed_dim=8, heads=2, hidden_dim=4), last_action=False)
    entities = torch.randn(6, 3, 5)                                   # [N, E, d]: 2 agents and 1 enemy
    padded = torch.cat([entities, torch.randn(6, 1, 5)], dim=1)       # a fourth slot, absent
    allowed = torch.ones(6, 2, 3, dtype=torch.bool)
    allowed_padded = torch.cat([allowed, torch.zeros(6, 2, 1, dtype=torch.bool)], dim=-1)
    torch.testing.assert_close(critic(padded, allowed_padded), critic(entities, allowed))
    hidden = actor.init_hidden(6, torch.device("cpu"))
    torch.testing.assert_close(actor(padded, allowed_padded, None, hidden)[0], actor(entities, allowed, None, hidden)[0])
    # the values do read the entities present: moving the enemy moves them
    moved = entities.clone()
    moved[:, 2] += 1.0
    assert not torch.allclose(critic(moved, allowed), critic(entities, allowed))


def test_the_rollout_unroll_matches_stepping_the_actor_with_resets():
    torch.manual_seed(0)
    actor = EntityController(2, 3, EntityAgent(5, 3, embed_dim=8, heads=2, hidden_dim=4), last_action=False)
    entities, allowed = torch.randn(3, 4, 3, 5), torch.ones(3, 4, 2, 3, dtype=torch.bool)   # [B, T, ...]
    starts = torch.tensor([[False, False, True, False]] * 3)
    hidden0 = torch.randn(3, 2, 4)
    unrolled = actor.unroll_steps(entities, allowed, starts, hidden0)                 # [B, T, A, n]
    h, outs = hidden0, []
    for t in range(4):
        h = torch.zeros_like(h) if t == 2 else h
        logits, h = actor(entities[:, t], allowed[:, t], None, h)
        outs.append(logits)
    torch.testing.assert_close(unrolled, torch.stack(outs, dim=1))
    with pytest.raises(ValueError, match="last_action=False"):
        EntityController(2, 3, EntityAgent(8, 3, 8, 2, 4)).unroll_steps(entities, allowed, starts, hidden0)


def test_the_config_refuses_a_feed_forward_actor():
    with pytest.raises(ValueError, match="recurrent"):
        AttentionMAPPOConfig(recurrent=False)
    assert registry.get("attn_mappo") is AttentionMAPPO and AttentionMAPPO.capabilities.variable_team_size


def _evals(root) -> list[dict]:
    return [json.loads(x) for x in next((root / "runs").iterdir()).joinpath("evals.jsonl").read_text().splitlines()]


def test_trained_on_three_to_five_agents_it_evaluates_on_six(tmp_path):
    spec = RunSpec(suite="attn-mappo", algorithm="attn_mappo",
                   algorithm_config={"horizon": 20, "epochs": 1, "attn_embed_dim": 16, "critic_hidden_dim": 16},
                   scenario="SZ", seed=0, budget_env_steps=160, eval_interval=80, eval_episodes=2, device="cpu",
                   n_envs=4, time_limit="terminal", train=CompositionSpec(agents=(3, 5)),
                   eval_sets={"6": CompositionSpec(agents=(6, 6))})
    loop = RunLoop(spec, tmp_path, lambda e: None)
    loop.files.create(loop.spec)
    loop.run()
    evals = _evals(tmp_path)
    sizes = {s: {team_size(r["composition"]) for r in evals if r["eval_set"] == s and r["composition"] != "all"}
             for s in ("train", "6")}
    assert sizes["6"] == {6} and sizes["train"] and sizes["train"] <= {3, 4, 5}
    assert loop.state.t_env >= 160
