"""IAC's Simple World: shapes, the reward landscape (a local and a higher global optimum), clipping,
one-step episodes, determinism and the optimum labels used in reports."""
import dataclasses

import pytest
import torch

from harness.envs import CompositionSpec, EnvInfo, make, scenario, validate_composition
from harness.envs.base import check_actions
from harness.envs.simple_world import (GLOBAL_CENTRE, GLOBAL_REWARD, HIGH, LOCAL_CENTRE, LOCAL_REWARD, LOW,
                                       optimum_of, reward, uniform_mean_reward)


def _env(batch_size=4, **kw):
    return make("simple_world", batch_size=batch_size, device="cpu", **kw)


def _joint(*pairs) -> torch.Tensor:
    """Joint actions [(u1, u2), ...] as the env's [B, 2, 1] float input."""
    return torch.tensor(pairs, dtype=torch.float32)[..., None]


def test_info_describes_two_bounded_continuous_actions():
    info = _env().info
    assert info.continuous_actions and not info.discrete_actions
    assert (info.n_agents, info.action_dim, info.action_low, info.action_high) == (2, 1, -10.0, 10.0)
    assert (info.n_actions, info.obs_dim, info.state_dim, info.episode_limit) == (1, 1, 1, 1)
    assert info.has_state and info.n_entities == 0
    assert info.simulator == "simple_world 0.1"
    entry = scenario("simple_world")
    assert (entry.family, entry.episode_limit) == ("continuous", 1)


def test_env_info_defaults_stay_discrete_and_continuous_fields_are_checked():
    info = EnvInfo(n_agents=3, n_actions=9, obs_dim=30, state_dim=48, episode_limit=60)
    assert info.discrete_actions and not info.continuous_actions and info.action_dim == 0 and info.has_state
    with pytest.raises(ValueError, match="action_dim >= 1"):
        EnvInfo(n_agents=2, n_actions=1, obs_dim=1, state_dim=1, episode_limit=1, continuous_actions=True)
    with pytest.raises(ValueError, match="below action_high"):
        EnvInfo(n_agents=2, n_actions=1, obs_dim=1, state_dim=1, episode_limit=1, continuous_actions=True,
                action_dim=1, action_low=1.0, action_high=1.0)


def test_step_shapes_and_masks():
    env = _env()
    for out in (env.reset(seed=0), env.step(_joint(*[[0.0, 0.0]] * 4))):
        assert out.obs.shape == (4, 2, 1) and out.obs.dtype == torch.float32 and bool((out.obs == 1).all())
        assert out.state.shape == (4, 1)
        assert out.avail_actions.shape == (4, 2, 1) and out.avail_actions.dtype == torch.bool
        assert bool(out.avail_actions.all()) and bool(out.agent_mask.all()) and out.agent_mask.shape == (4, 2)
        assert out.reward.shape == (4,) and out.entities is None
    assert env.compositions() == ["XX"] * 4


def test_check_actions_requires_float_actions_of_shape_b_a_dim():
    env = _env(batch_size=2)
    env.reset()
    with pytest.raises(ValueError, match="floating tensor, got torch.int64"):
        env.step(torch.zeros(2, 2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \[B=2, A=2, action_dim=1\], got \[2, 2\]"):
        env.step(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="finite"):
        env.step(torch.full((2, 2, 1), float("nan")))
    check_actions(torch.zeros(2, 3, dtype=torch.long), 2, 3)     # discrete behaviour unchanged
    with pytest.raises(ValueError, match="integer tensor"):
        check_actions(torch.zeros(2, 3), 2, 3)


def test_reward_at_both_centres_and_the_global_one_is_higher():
    env = _env(batch_size=2)
    env.reset()
    out = env.step(_joint(LOCAL_CENTRE, GLOBAL_CENTRE))
    assert out.reward.tolist() == pytest.approx([5.0, 10.0], abs=1e-5)
    assert LOCAL_REWARD == pytest.approx(5.0, abs=1e-12) and GLOBAL_REWARD == pytest.approx(10.0, abs=1e-6)
    assert GLOBAL_REWARD > LOCAL_REWARD


@pytest.mark.parametrize("centre", [LOCAL_CENTRE, GLOBAL_CENTRE], ids=["local", "global"])
def test_each_centre_is_a_local_maximum(centre):
    c = torch.tensor(centre, dtype=torch.float64)
    x = c.clone().requires_grad_()
    (grad,) = torch.autograd.grad(reward(x), x)
    assert grad.abs().max().item() < 1e-6
    hessian = torch.autograd.functional.hessian(reward, c)
    assert torch.linalg.eigvalsh(hessian).max().item() < -0.5
    offsets = torch.cartesian_prod(*[torch.linspace(-0.5, 0.5, 21, dtype=torch.float64)] * 2)  # [441, 2]
    around = reward(c + offsets[offsets.norm(dim=1) > 1e-9])  # every grid point but the centre
    assert bool((around < reward(c)).all())


def test_gradient_ascent_from_the_origin_reaches_the_local_optimum():
    """The paper's point: a naive gradient learner near the origin climbs the wide, lower bump."""
    x = torch.zeros(2, dtype=torch.float64)
    for _ in range(2_000):
        x = x.requires_grad_()
        (grad,) = torch.autograd.grad(reward(x), x)
        x = (x + 0.5 * grad).detach()
    assert optimum_of(x[None]) == ["local"] and reward(x).item() == pytest.approx(LOCAL_REWARD, abs=1e-6)


def test_actions_outside_the_bounds_are_clipped():
    env = _env(batch_size=3)
    env.reset()
    wild = env.step(_joint([-100.0, 0.0], [50.0, 50.0], [3.0, -1e6])).reward
    env.reset()
    edge = env.step(_joint([LOW, 0.0], [HIGH, HIGH], [3.0, LOW])).reward
    assert torch.equal(wild, edge)


def test_one_step_episodes_without_and_with_autoreset():
    env = _env(batch_size=2)
    env.reset()
    first = env.step(_joint([4.0, 3.0], [-6.0, -6.0]))
    assert first.terminated.all() and not first.truncated.any()
    again = env.step(_joint([-6.0, -6.0], [-6.0, -6.0]))        # done stays done, actions ignored
    assert again.terminated.all() and again.reward.tolist() == [0.0, 0.0]
    assert again.battle_won.tolist() == [False, True]

    auto = _env(batch_size=2, autoreset=True)
    auto.reset()
    assert auto.step(_joint([4.0, 3.0], [4.0, 3.0])).terminated.all()
    restart = auto.step(_joint([4.0, 3.0], [4.0, 3.0]))         # the next episode starts
    assert not restart.terminated.any() and restart.reward.tolist() == [0.0, 0.0]
    assert auto.step(_joint([4.0, 3.0], [4.0, 3.0])).reward.tolist() == pytest.approx([5.0, 5.0])


def test_won_means_reaching_the_global_basin():
    env = _env(batch_size=4)
    env.reset()
    out = env.step(_joint(GLOBAL_CENTRE, [-6.0 + 1.6, -6.0], [-6.0 + 1.7, -6.0], LOCAL_CENTRE))
    assert out.battle_won.tolist() == [True, True, False, False]
    assert bool((out.reward[out.battle_won] > LOCAL_REWARD).all())


def test_deterministic_given_a_seed():
    actions = torch.empty(8, 2, 1).uniform_(-12, 12, generator=torch.Generator().manual_seed(3))
    runs = []
    for seed in (7, 7, 8):
        env = _env(batch_size=8)
        env.reset(seed=seed)
        runs.append(env.step(actions))
    for other in runs[1:]:
        assert torch.equal(runs[0].reward, other.reward) and torch.equal(runs[0].battle_won, other.battle_won)


def test_state_round_trips():
    env = _env(batch_size=2)
    env.reset()
    env.step(_joint(GLOBAL_CENTRE, LOCAL_CENTRE))
    saved = env.get_state()
    env.reset()
    env.set_state(saved)
    out = env.step(_joint(GLOBAL_CENTRE, GLOBAL_CENTRE))
    assert out.terminated.all() and out.reward.tolist() == [0.0, 0.0] and out.battle_won.tolist() == [True, False]


def test_optimum_of_names_the_nearest_centre_within_tolerance():
    points = torch.tensor([GLOBAL_CENTRE, LOCAL_CENTRE, [-5.5, -6.5], [4.9, 3.0], [0.0, 0.0], [-6.0, -7.2]])
    assert optimum_of(points) == ["global", "local", "global", "local", "none", "none"]
    assert optimum_of(torch.empty(0, 2)) == []


def test_a_uniformly_random_policy_earns_far_below_the_local_optimum():
    env = _env(batch_size=100_000)
    env.reset(seed=0)
    actions = torch.empty(100_000, 2, 1).uniform_(LOW, HIGH, generator=torch.Generator().manual_seed(0))
    mean = env.step(actions).reward.mean().item()
    assert uniform_mean_reward() == pytest.approx(0.7036, abs=1e-4)
    assert mean == pytest.approx(uniform_mean_reward(), abs=0.02)
    assert mean < 0.2 * LOCAL_REWARD


def test_compositions_other_than_two_agents_are_refused():
    validate_composition("simple_world", CompositionSpec(agents=(2, 2), teams=(("X", "X"),)))
    for bad in (CompositionSpec(agents=(3, 3)), CompositionSpec(enemies=(1, 1)), CompositionSpec(teams=(("A", "B"),))):
        with pytest.raises(ValueError, match="simple_world"):
            validate_composition("simple_world", bad)
    with pytest.raises(ValueError, match="exactly 2 agents"):
        make("simple_world", batch_size=1, composition=CompositionSpec(agents=(3, 3)))


def test_info_is_a_frozen_dataclass_that_replace_keeps_valid():
    info = dataclasses.replace(_env().info, action_high=5.0)
    assert info.continuous_actions and info.action_high == 5.0
