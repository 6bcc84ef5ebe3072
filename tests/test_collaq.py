"""CollaQ on entity observations: the self term sees only the agent's own entity, the utility is the sum
of both terms, and the MARA loss is the interactive term's square on the agent alone."""
from __future__ import annotations

import pytest
import torch

from algorithms import registry
from algorithms.value.collaq import CollaQ, CollaQAgent, CollaQConfig, own_entity
from harness.envs import make
from harness.runner.rollout import collect


def test_own_entity_keeps_only_the_agent_itself():
    allowed = torch.ones(1, 2, 3, dtype=torch.bool)
    assert own_entity(allowed).tolist() == [[[True, False, False], [False, True, False]]]


def test_the_utility_is_the_self_term_plus_the_interactive_term():
    torch.manual_seed(0)
    agent = CollaQAgent(input_dim=5, n_actions=3, embed_dim=8, heads=2, hidden_dim=4)
    entities, allowed, hidden = torch.randn(6, 3, 5), torch.ones(6, 2, 3, dtype=torch.bool), torch.zeros(6, 2, 8)
    q, h, aux = agent(entities, allowed, hidden)
    alone = agent.alone(entities, own_entity(allowed), hidden[..., :4])[0]
    collab = agent.collab(entities, allowed, hidden[..., 4:])[0]
    torch.testing.assert_close(q, alone + collab)
    torch.testing.assert_close(aux["collab_alone"], agent.collab(entities, own_entity(allowed), hidden[..., 4:])[0])
    other = entities.clone()
    other[:, 2] += 1.0                      # an entity no agent is: the self term does not move
    torch.testing.assert_close(agent.alone(other, own_entity(allowed), hidden[..., :4])[0], alone)
    assert h.shape == (6, 2, 8)


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_an_update_reports_the_td_and_mara_losses(weight):
    env = make("3m", batch_size=2, seed=0)
    torch.manual_seed(0)
    alg = CollaQ(env.info, CollaQConfig.from_overrides({"attn_embed_dim": 16, "hypernet_embed": 16, "batch_size": 2,
                                                        "mara_weight": weight}), torch.device("cpu"))
    batch, _ = collect(env, alg, t_env=0, explore=True, generator=torch.Generator().manual_seed(0), seed=0)
    alg.observe(batch)
    logs = alg.train(t_env=100, episodes_seen=2, generator=torch.Generator().manual_seed(0))
    assert logs["mara_loss"] > 0
    assert logs["loss"] == pytest.approx(logs["td_loss"] + weight * logs["mara_loss"], rel=1e-5)
    assert registry.get("collaq") is CollaQ and CollaQ.capabilities.variable_team_size
