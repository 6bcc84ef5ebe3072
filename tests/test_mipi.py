"""MIPI's parts: the marginal reads only team-unrelated features, the linear mixer's expectation, which
loss trains which parameters, the regularisers, and the variants through overrides."""
from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from algorithms import registry
from algorithms.calls import drive
from algorithms.components.mixers import EntityLinearMixer, MixerInput
from algorithms.value.mipi import MIPI, MIPIConfig, MarginalPolicy, regulariser_terms
from harness.envs import make
from harness.runner.rollout import collect


def _mipi(scenario="mipi_matrix", **overrides) -> tuple[MIPI, object]:
    env = make(scenario, batch_size=8, seed=0)
    torch.manual_seed(0)
    config = MIPIConfig.from_overrides({"attn_embed_dim": 16, "hypernet_embed": 16, "rnn_hidden_dim": 16,
                                        "batch_size": 8, **overrides})
    return MIPI(env.info, config, torch.device("cpu")), env


def _batch(alg, env, seed=0):
    batch, _ = collect(env, alg, t_env=0, explore=True, generator=torch.Generator().manual_seed(seed), seed=seed)
    return batch


def test_mipi_is_registered_and_needs_the_entity_view():
    assert registry.get("mipi") is MIPI
    assert MIPI.capabilities.needs_entities and MIPI.capabilities.variable_team_size


def test_the_marginal_reads_only_the_agents_own_team_unrelated_features():
    marginal = MarginalPolicy(n_agents=2, n_actions=2, own_features=(0, 1), hidden_dim=8)
    inputs = torch.randn(5, 3, 4 + 2)                       # [N, E=3, d=4 + n=2]: 2 agents and an entity
    changed = inputs.clone()
    changed[:, 2] = torch.randn(5, 6)                       # another entity
    changed[:, :2, 2:4] = torch.randn(5, 2, 2)              # the agents' team-related features (types)
    h = marginal.init_hidden(5, torch.device("cpu"))
    same = marginal.step(marginal.own(inputs), h)[0]
    assert torch.equal(same, marginal.step(marginal.own(changed), h)[0])
    changed[:, 0, 0] += 1.0                                 # an agent's own seat does move it
    assert not torch.allclose(same[:, 0], marginal.step(marginal.own(changed), h)[0][:, 0])


def test_the_linear_mixer_of_expected_utilities_is_the_expected_joint_value():
    torch.manual_seed(0)
    mixer = EntityLinearMixer(entity_input_dim=6, hypernet_embed=8, heads=2)
    B, A, E, n = 3, 2, 2, 3
    entities = torch.randn(B, 1, E, 6)
    attend = torch.ones(B, 1, A, E, dtype=torch.bool)
    mask = torch.ones(B, 1, A)
    q = torch.randn(B, 1, A, n)
    pi = torch.softmax(torch.randn(B, 1, A, n), dim=-1)

    def mix(qs):
        return mixer(MixerInput(qs, torch.zeros(B, 1, 1), mask, entities=entities, attend=attend))

    expected = sum(pi[:, :, 0, u] * pi[:, :, 1, v] * mix(torch.stack([q[:, :, 0, u], q[:, :, 1, v]], dim=-1))
                   for u, v in itertools.product(range(n), repeat=2))
    torch.testing.assert_close(mix((pi * q).sum(-1)), expected)


def test_the_mixer_weights_are_non_negative():
    torch.manual_seed(1)
    mixer = EntityLinearMixer(entity_input_dim=4, hypernet_embed=8, heads=2)
    entities, attend = torch.randn(64, 1, 2, 4), torch.ones(64, 1, 2, 2, dtype=torch.bool)
    base = torch.zeros(64, 1, 2)
    bumped = base.clone()
    bumped[..., 0] += 1.0
    mix = [mixer(MixerInput(q, torch.zeros(64, 1, 1), torch.ones(64, 1, 2), entities=entities, attend=attend))
           for q in (base, bumped)]
    assert bool((mix[1] >= mix[0]).all())                    # monotone in every utility (IGM)


def test_regularisers():
    log_pi = torch.log(torch.tensor([[0.75, 0.25]]))
    log_m = torch.log(torch.tensor([[0.5, 0.5]]))
    kl = (log_pi.exp() * regulariser_terms("mi", log_pi, log_m)).sum(-1)
    torch.testing.assert_close(kl, torch.tensor([0.75 * torch.log(torch.tensor(1.5)) + 0.25 * torch.log(torch.tensor(0.5))]))
    torch.testing.assert_close((log_pi.exp() * regulariser_terms("entropy", log_pi, None)).sum(-1),
                               -torch.distributions.Categorical(logits=log_pi).entropy())
    assert torch.equal(regulariser_terms("none", log_pi, None), torch.zeros_like(log_pi))


def _grads(alg: MIPI, loss_module, *args) -> dict[str, bool]:
    for p in [*alg.learner.params, *alg.marginal.parameters()]:
        p.grad = None
    loss, _ = loss_module(*args)
    loss.backward()
    nets = {"trunk": [p for n, p in alg.controller.named_parameters() if not n.startswith("agent.policy")],
            "policy": list(alg.controller.agent.policy.parameters()),
            "mixer": list(alg.mixer.parameters()), "marginal": list(alg.marginal.parameters())}
    return {k: any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in ps) for k, ps in nets.items()}


def test_each_loss_trains_its_own_parameters():
    alg, env = _mipi(alpha=0.5)
    batch = _batch(alg, env)
    groups = alg.loss_args(batch, torch.Generator().manual_seed(0))[0]
    td = _grads(alg, alg.learner.loss, batch.tensors(), groups)
    assert td == {"trunk": True, "policy": False, "mixer": True, "marginal": False}
    q, h, h_imagined = drive(_features(alg, batch, groups))
    assert _grads(alg, alg.marginal_loss, batch.tensors(), h_imagined) == {
        "trunk": False, "policy": False, "mixer": False, "marginal": True}
    assert _grads(alg, alg.policy_loss, batch.tensors(), q, h) == {
        "trunk": False, "policy": True, "mixer": False, "marginal": False}


def _features(alg, batch, groups):
    from algorithms.calls import Call
    out = yield Call(alg.features, (batch.tensors(), groups))
    return out


def test_the_td_optimiser_leaves_the_marginal_to_its_own():
    alg, _ = _mipi()
    td = {id(p) for p in alg.learner.params}
    assert not td & {id(p) for p in alg.marginal.parameters()}
    assert {id(p) for g in alg.marginal_optimiser.param_groups for p in g["params"]} == {id(p) for p in alg.marginal.parameters()}


@pytest.mark.parametrize("regulariser", ["mi", "entropy", "none", "removed"])
def test_an_update_runs_and_reports_its_terms(regulariser):
    alg, env = _mipi(ba_iterations=2, regulariser=regulariser)
    for seed in range(2):
        alg.observe(_batch(alg, env, seed))
    logs = alg.train(t_env=16, episodes_seen=16, generator=torch.Generator().manual_seed(0))
    assert {"loss", "real_loss", "imagined_loss", "policy_loss", "policy_entropy"} <= set(logs)
    assert ("mutual_information" in logs) == (regulariser == "mi")
    assert ("marginal_nll" in logs) == (regulariser != "removed")   # alpha = inf: the marginal is the policy


def test_alpha_infinity_acts_on_the_agents_own_features_and_improves_that_policy_alone():
    alg, env = _mipi(regulariser="removed")
    step = env.reset()
    hidden = alg.init_hidden(8)
    assert hidden["h"].shape == (8, 2, alg.marginal.hidden_dim)
    actions = drive(alg.act_program(step, hidden, 0, False, torch.Generator()))[0]
    other = step.entities.clone()
    other[..., 2:] = 1.0 - other[..., 2:]                   # every agent's type swapped: team-related only
    swapped = drive(alg.act_program(dataclasses.replace(step, entities=other), hidden, 0, False, torch.Generator()))[0]
    assert torch.equal(actions, swapped)
    logits = alg.marginal(step.entities, None, hidden["h"])[0]
    assert torch.equal(actions, logits.masked_fill(~step.avail_actions, -1e10).argmax(-1))
    batch = _batch(alg, env)
    q, _, _ = drive(_features(alg, batch, alg.loss_args(batch, torch.Generator().manual_seed(0))[0]))
    assert _grads(alg, alg.own_policy_loss, batch.tensors(), q) == {
        "trunk": False, "policy": False, "mixer": False, "marginal": True}


def test_bad_variants_are_refused():
    with pytest.raises(ValueError, match="regulariser must be one of mi, entropy, none, removed"):
        MIPIConfig.from_overrides({"regulariser": "kl"})
    with pytest.raises(ValueError, match="ba_iterations must be at least 1"):
        MIPIConfig.from_overrides({"ba_iterations": 0})


def test_mipi_matrix_has_an_entity_view_whose_own_features_are_the_seat():
    env = make("mipi_matrix", batch_size=4, seed=0)
    step = env.reset()
    assert env.info.n_entities == 2 and env.info.entity_dim == 4 and env.info.own_features == (0, 1)
    types = {"A": [1.0, 0.0], "B": [0.0, 1.0]}
    for b, team in enumerate(env.compositions()):
        assert step.entities[b].tolist() == [[1.0, 0.0, *types[team[0]]], [0.0, 1.0, *types[team[1]]]]
    assert step.obs_mask.all() and step.entity_mask.all()
    assert make("climbing", batch_size=1).info.n_entities == 0
