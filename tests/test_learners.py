"""Unit tests of the value-based learner's maths: TD targets at terminals and time-outs, double-Q
selection, target-update timing, QMIX's monotonicity and the epsilon schedule (hand-computed values)."""
import pytest
import torch

from algorithms.calls import drive
from algorithms.components.agents import AgentController
from algorithms.components.exploration import LinearSchedule, epsilon_greedy
from algorithms.components.learners import TDLearner, TDSettings
from algorithms.components.mixers import MixerInput, QMixer, VDNMixer
from algorithms.components.replay import EpisodeBatch

GAMMA = 0.5
A, N_ACT = 2, 3


def _settings(**kw) -> TDSettings:
    base = dict(gamma=GAMMA, lr=1e-3, optimizer="rmsprop", optim_alpha=0.99, optim_eps=1e-5, grad_norm_clip=10.0,
                double_q=True, target_update_interval=200, time_limit="bootstrap")
    return TDSettings(**(base | kw))


def _episode(end: str) -> EpisodeBatch:
    """One 3-step episode with rewards 1, 2, 3 that ends at step 3 by the game ("terminal") or by the
    time limit ("timeout"); a 4th, unfilled padding step follows."""
    T = 4
    terminated = torch.zeros(1, T, dtype=torch.bool)
    truncated = torch.zeros(1, T, dtype=torch.bool)
    (terminated if end == "terminal" else truncated)[0, 2] = True
    return EpisodeBatch(
        obs=torch.zeros(1, T + 1, A, 1), state=torch.zeros(1, T + 1, 1),
        avail_actions=torch.ones(1, T + 1, A, N_ACT, dtype=torch.bool),
        agent_mask=torch.ones(1, T + 1, A, dtype=torch.bool),
        actions=torch.zeros(1, T, A, dtype=torch.long),
        reward=torch.tensor([[1.0, 2.0, 3.0, 0.0]]), terminated=terminated, truncated=truncated,
        filled=torch.tensor([[True, True, True, False]]))


def _learner(settings: TDSettings, online_q: torch.Tensor, target_q: torch.Tensor, mixer=None) -> TDLearner:
    """A learner whose networks' utilities over the episode are the given ``[1, T+1, A, n]`` tensors."""
    learner = TDLearner(AgentController(A, 1, N_ACT, 4), mixer, settings)
    learner.controller.unroll = lambda batch: online_q.clone().requires_grad_(True)
    learner.target_controller.unroll = lambda batch: target_q.clone()
    return learner


def _utilities() -> tuple[torch.Tensor, torch.Tensor]:
    """Online and target utilities ``[1, 5, A, 3]``: at every step the online net prefers action 1 and
    the target net values actions (0, 1, 2) at (10, 4, 1) × (t + 1), the same for both agents."""
    online = torch.zeros(1, 5, A, N_ACT)
    online[..., 1] = 1.0
    target = torch.tensor([10.0, 4.0, 1.0]).repeat(1, 5, A, 1) * torch.arange(1, 6.0).view(1, 5, 1, 1)
    return online, target


def _targets(learner: TDLearner, batch: EpisodeBatch) -> torch.Tensor:
    return learner.td_terms(batch).y[0, :3]


def test_td_target_of_a_3_step_episode_ending_in_a_terminal():
    online, target = _utilities()
    learner = _learner(_settings(), online, target, VDNMixer())
    # double Q: online argmax is action 1, valued by the target net at 4 (t+1) per agent, 2 agents
    # y_0 = 1 + 0.5 * 2*4*2 = 9;  y_1 = 2 + 0.5 * 2*4*3 = 14;  y_2 = 3 (terminal: no bootstrap)
    assert _targets(learner, _episode("terminal")).tolist() == [9.0, 14.0, 3.0]


def test_a_time_out_treated_as_terminal_is_not_bootstrapped():
    online, target = _utilities()
    learner = _learner(_settings(time_limit="terminal"), online, target, VDNMixer())
    assert _targets(learner, _episode("timeout")).tolist() == [9.0, 14.0, 3.0]


def test_a_bootstrapped_time_out_reads_the_observation_the_time_limit_cut():
    online, target = _utilities()
    learner = _learner(_settings(time_limit="bootstrap"), online, target, VDNMixer())
    # y_2 = 3 + 0.5 * (2 agents x 4 x 4) = 19: the value of the final (4th) observation
    assert _targets(learner, _episode("timeout")).tolist() == [9.0, 14.0, 19.0]


def test_independent_learners_use_the_team_reward_per_agent():
    online, target = _utilities()
    learner = _learner(_settings(), online, target)
    y = learner.td_terms(_episode("terminal")).y           # [B, T, A]
    assert y[0, :3, 0].tolist() == [1 + 0.5 * 8, 2 + 0.5 * 12, 3.0]
    assert torch.equal(y[..., 0], y[..., 1])


def test_double_q_selects_with_the_online_net_and_values_with_the_target_net():
    online, target = _utilities()
    plain = _learner(_settings(double_q=False), online, target, VDNMixer())
    # without double Q: max of the target net = action 0, 10 (t+1) per agent
    assert _targets(plain, _episode("terminal")).tolist() == [1 + 0.5 * 40, 2 + 0.5 * 60, 3.0]


def test_double_q_ignores_unavailable_actions():
    online, target = _utilities()
    online[..., 2] = 5.0                                   # the online net prefers action 2 ...
    batch = _episode("terminal")
    batch.avail_actions[..., 2] = False                    # ... which is never available
    learner = _learner(_settings(), online, target, VDNMixer())
    assert _targets(learner, batch).tolist() == [9.0, 14.0, 3.0]


def test_padding_steps_do_not_enter_the_loss():
    online, target = _utilities()
    learner = _learner(_settings(), online, target, VDNMixer())
    mask = learner.td_terms(_episode("terminal")).mask
    assert mask[0].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_target_networks_update_every_200_episodes():
    learner = TDLearner(AgentController(A, 1, N_ACT, 4), VDNMixer(), _settings(lr=0.1))
    batch = _episode("terminal")
    first = [p.clone() for p in learner.target_controller.parameters()]

    def same_as(params) -> bool:
        return all(torch.equal(a, b) for a, b in zip(learner.target_controller.parameters(), params))

    for episode in range(1, 200):
        drive(learner.update(batch, episode))
    assert same_as(first), "target changed before 200 episodes"
    drive(learner.update(batch, 200))
    online = [p.clone() for p in learner.controller.parameters()]
    assert same_as(online) and not same_as(first)
    drive(learner.update(batch, 399))
    assert same_as(online), "target changed again before another 200 episodes"
    drive(learner.update(batch, 400))
    assert same_as(list(learner.controller.parameters()))


def test_qmix_is_monotonic_in_every_agent_utility():
    torch.manual_seed(0)
    mixer = QMixer(n_agents=4, state_dim=6)
    qs = torch.randn(8, 5, 4, requires_grad=True)
    q_tot = mixer(MixerInput(qs, torch.randn(8, 5, 6), torch.ones(8, 5, 4)))
    (grad,) = torch.autograd.grad(q_tot.sum(), qs)
    assert (grad >= 0).all() and (grad > 0).any()


def test_qmix_ignores_padded_agents():
    torch.manual_seed(0)
    mixer = QMixer(n_agents=3, state_dim=2)
    qs, states = torch.randn(1, 1, 3), torch.randn(1, 1, 2)
    mask = torch.tensor([[[1.0, 1.0, 0.0]]])
    changed = qs.clone()
    changed[..., 2] += 100.0
    assert torch.equal(mixer(MixerInput(qs, states, mask)), mixer(MixerInput(changed, states, mask)))


def test_epsilon_schedule_is_linear_then_flat():
    eps = LinearSchedule(1.0, 0.05, 50_000)
    assert [eps(0), eps(25_000), eps(50_000), eps(10**6)] == pytest.approx([1.0, 0.525, 0.05, 0.05])
    assert eps(-5) == 1.0
    assert LinearSchedule(1.0, 0.1, 0)(0) == 0.1


def test_epsilon_greedy_explores_only_available_actions_at_rate_epsilon():
    q = torch.tensor([[[0.0, 1.0, 2.0, 3.0]]]).expand(20_000, 1, 4)
    avail = torch.tensor([True, True, True, False]).expand(20_000, 1, 4)
    actions = epsilon_greedy(q, avail, 0.3, torch.Generator().manual_seed(0))
    assert not (actions == 3).any()
    counts = torch.bincount(actions.flatten(), minlength=4).float() / actions.numel()
    # greedy = action 2 with prob 0.7 + 0.3/3; the other two available ones 0.1 each
    assert counts.tolist() == pytest.approx([0.1, 0.1, 0.8, 0.0], abs=0.01)
