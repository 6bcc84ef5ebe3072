"""Unit tests pinning the maths of QPLEX, QTRAN and weighted QMIX on tiny inputs: QPLEX's IGM
consistency and gradient routing, QTRAN's three losses against hand-computed values, weighted QMIX's
weights and its target from the central Q̂* at the QMIX agents' greedy actions."""
import itertools
from functools import partial

import pytest
import torch
from torch import nn

from algorithms.components.agents import AgentController
from algorithms.components.learners import TDLearner, TDSettings, greedy_actions, take
from algorithms.components.mixers import CentralMixer, DuplexAttention, MixerInput, QMixer, QPLEXMixer, QTRANJoint
from algorithms.components.replay import EpisodeBatch
from algorithms.value.qtran import QTRANLoss
from algorithms.value.weighted_qmix import WeightedQMIXLoss, cw_weights, ow_weights


def _settings(**kw) -> TDSettings:
    base = dict(gamma=0.5, lr=1e-3, optimizer="rmsprop", optim_alpha=0.99, optim_eps=1e-5, grad_norm_clip=10.0,
                double_q=True, target_update_interval=200, time_limit="terminal")
    return TDSettings(**(base | kw))


def _batch(T: int, A: int, n: int, reward: list[float], terminal_at: int, S: int = 1) -> EpisodeBatch:
    """One episode of ``T`` filled steps, ``A`` agents, all actions available, ending in a terminal at
    ``terminal_at``; actions 0 everywhere (tests set them)."""
    terminated = torch.zeros(1, T, dtype=torch.bool)
    terminated[0, terminal_at] = True
    return EpisodeBatch(
        obs=torch.zeros(1, T + 1, A, 1), state=torch.randn(1, T + 1, S),
        avail_actions=torch.ones(1, T + 1, A, n, dtype=torch.bool),
        agent_mask=torch.ones(1, T + 1, A, dtype=torch.bool),
        actions=torch.zeros(1, T, A, dtype=torch.long), reward=torch.tensor([reward]),
        terminated=terminated, truncated=torch.zeros(1, T, dtype=torch.bool),
        filled=torch.ones(1, T, dtype=torch.bool))


# --- QPLEX -------------------------------------------------------------------------------------------

def _qplex_q_tot(mixer, all_qs, state, joint, avail):
    """Q_tot of one joint action ``joint [A]`` at one state: all_qs ``[A, n]``, state ``[S]``."""
    A = all_qs.shape[0]
    u = torch.tensor(joint).view(1, 1, A)
    qs = all_qs.view(1, 1, A, -1)
    return mixer(MixerInput(take(qs, u), state.view(1, 1, -1), torch.ones(1, 1, A), u, qs,
                            greedy_actions(qs, avail.view(1, 1, A, -1)))).item()


@pytest.mark.parametrize("seed", range(5))
def test_qplex_joint_argmax_is_every_agents_own_argmax(seed):
    """IGM: over every available joint action, Q_tot is largest at the agents' greedy actions, where it
    equals Σ_i V_i (the advantages vanish), whatever the networks' weights."""
    torch.manual_seed(seed)
    A, n, S = 3, 4, 5
    mixer = QPLEXMixer(A, n, S, hypernet_embed=16, heads=4, attention_layers=2, attention_embed=16)
    all_qs, state = torch.randn(A, n) * 3, torch.randn(S)
    avail = torch.rand(A, n) > 0.3
    avail[:, 0] = True
    choices = [torch.nonzero(avail[a]).flatten().tolist() for a in range(A)]
    values = {joint: _qplex_q_tot(mixer, all_qs, state, joint, avail) for joint in itertools.product(*choices)}
    greedy = tuple(greedy_actions(all_qs, avail).tolist())
    assert max(values, key=values.get) == greedy
    assert all(values[greedy] >= v for v in values.values())
    s = state.view(1, -1)
    v_sum = ((mixer.hyper_w(s).abs() + 1e-10) * take(all_qs, torch.tensor(greedy)) + mixer.hyper_b(s)).sum()
    assert values[greedy] == pytest.approx(v_sum.item(), rel=1e-5)


def test_qplex_advantage_branch_trains_only_the_attention_weights():
    """dQ_tot/dQ_i = w_i(s) (the advantages enter stopped), and λ's parameters get a gradient exactly
    when some agent's action is not its greedy one."""
    torch.manual_seed(0)
    A, n, S = 2, 3, 4
    mixer = QPLEXMixer(A, n, S, hypernet_embed=8, heads=2)
    all_qs = torch.tensor([[[[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]]]])                 # [1, 1, A, n]
    state = torch.randn(1, 1, S)
    greedy = greedy_actions(all_qs, torch.ones_like(all_qs, dtype=torch.bool))   # (0, 1)
    for joint, attention_trained in (((0, 1), False), ((1, 1), True)):
        mixer.zero_grad()
        u = torch.tensor(joint).view(1, 1, A)
        chosen = take(all_qs, u).requires_grad_(True)
        mixer(MixerInput(chosen, state, torch.ones(1, 1, A), u, all_qs, greedy)).sum().backward()
        w = mixer.hyper_w(state.view(1, -1)).abs() + 1e-10
        assert torch.allclose(chosen.grad.view(-1), w.view(-1).detach())
        grads = [p.grad for p in mixer.attention.parameters()]
        has_grad = any(g is not None and g.abs().sum() > 0 for g in grads)
        assert has_grad == attention_trained, joint


def test_qplex_attention_weights_are_positive():
    torch.manual_seed(1)
    lam = DuplexAttention(3, 5, 6, heads=4, layers=3, embed=8)(torch.randn(64, 6) * 10, torch.randint(0, 5, (64, 3)))
    assert lam.shape == (64, 3) and bool((lam > 0).all())


# --- weighted QMIX -----------------------------------------------------------------------------------

def test_ow_weights_favour_underestimated_joint_actions():
    q_tot = torch.tensor([1.0, 3.0, 2.0])
    y = torch.tensor([2.0, 2.0, 2.0])
    assert ow_weights(q_tot, y, 0.1).tolist() == pytest.approx([1.0, 0.1, 0.1])


def test_cw_weights_favour_the_greedy_action_and_targets_above_the_central_greedy_value():
    is_greedy = torch.tensor([True, False, False, False])
    y = torch.tensor([0.0, 5.0, 1.0, 2.0])
    star_greedy = torch.tensor([9.0, 4.0, 4.0, 2.0])
    assert cw_weights(is_greedy, y, star_greedy, 0.25).tolist() == [1.0, 1.0, 0.25, 0.25]


def _wqmix_learner(scheme: str, alpha: float = 0.1):
    A, n, S = 2, 3, 2
    torch.manual_seed(0)
    controller, central = AgentController(A, 1, n, 4), AgentController(A, 1, n, 4)
    learner = TDLearner(controller, QMixer(A, S, 8, 2, 8), _settings(),
                        extra={"central_controller": central, "central_mixer": CentralMixer(A, S, 16, 2)},
                        loss=partial(WeightedQMIXLoss, scheme=scheme, alpha=alpha, qmix_weight=1.0,
                                     central_weight=1.0))
    return learner, A, n, S


@pytest.mark.parametrize("scheme", ["ow", "cw"])
def test_weighted_qmix_loss_targets_the_central_q_at_the_qmix_agents_greedy_actions(scheme):
    """y = r + γ Q̂*_target(s', ū') with ū' the QMIX agents' argmax (not the central agents'), both losses
    regress to it, and only the QMIX loss is weighted."""
    learner, A, n, S = _wqmix_learner(scheme)
    batch = _batch(T=2, A=A, n=n, reward=[1.0, 2.0], terminal_at=1, S=S)
    batch.actions[0, 0] = torch.tensor([2, 0])
    q = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).repeat(1, 3, 1, 1)     # [1, 3, A, n] QMIX agents: ū = (0, 2)
    qc = torch.randn(1, 3, A, n)                                                 # central agents (argmax elsewhere)
    qc[..., 1] = 10.0
    qc_target = qc + 1.0
    learner.controller.unroll = lambda b: q.clone().requires_grad_(True)
    learner.extra["central_controller"].unroll = lambda b: qc.clone().requires_grad_(True)
    learner.target["central_controller"].unroll = lambda b: qc_target.clone()
    loss, stats = learner.loss(batch.tensors())

    greedy = torch.tensor([0, 2]).view(1, 1, A).expand(1, 3, A)
    ones = torch.ones(1, 2, A)
    star_next = learner.target["central_mixer"](MixerInput(take(qc_target[:, 1:], greedy[:, 1:]), batch.state[:, 1:], ones))
    y = batch.reward + 0.5 * torch.tensor([[1.0, 0.0]]) * star_next
    chosen = take(q[:, :-1], batch.actions)
    q_tot = learner.mixer(MixerInput(chosen, batch.state[:, :-1], ones))
    q_star = learner.extra["central_mixer"](MixerInput(take(qc[:, :-1], batch.actions), batch.state[:, :-1], ones))
    if scheme == "ow":
        w = ow_weights(q_tot, y, 0.1)
    else:
        star_greedy = learner.target["central_mixer"](MixerInput(take(qc_target[:, :-1], greedy[:, :-1]),
                                                                batch.state[:, :-1], ones))
        w = cw_weights(torch.tensor([[False, False]]), y, star_greedy, 0.1)
    expected = (w * (q_tot - y) ** 2).sum() / 2 + ((q_star - y) ** 2).sum() / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert stats["weight_mean"].item() == pytest.approx(w.mean().item())


def test_cw_weight_is_one_on_the_greedy_joint_action():
    learner, A, n, S = _wqmix_learner("cw", alpha=0.0)
    batch = _batch(T=1, A=A, n=n, reward=[-100.0], terminal_at=0, S=S)   # y far below every Q̂*(s, ū)
    q = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).repeat(1, 2, 1, 1)
    learner.controller.unroll = lambda b: q.clone().requires_grad_(True)
    batch.actions[0, 0] = torch.tensor([0, 2])                               # ū itself
    assert learner.loss(batch.tensors())[1]["weight_mean"].item() == 1.0
    batch.actions[0, 0] = torch.tensor([0, 1])                               # not ū, y low: weight α = 0
    assert learner.loss(batch.tensors())[1]["weight_mean"].item() == 0.0


# --- QTRAN -------------------------------------------------------------------------------------------

class _TableJoint(nn.Module):
    """A parameter-free stand-in for QTRAN's joint networks: Q_jt(u) from a payoff table, V_jt = 1."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table

    def forward(self, x: MixerInput):
        q = self.table[x.actions[..., 0], x.actions[..., 1]]                     # [B, T]
        return q, torch.ones_like(q)


def _qtran(table: torch.Tensor, q: torch.Tensor) -> TDLearner:
    A, n = 2, 3
    learner = TDLearner(AgentController(A, 1, n, 4), _TableJoint(table), _settings(),
                        loss=partial(QTRANLoss, opt_weight=1.0, nopt_weight=0.1))
    h = torch.zeros(*q.shape[:-1], 4)
    learner.controller.unroll = lambda b, with_hidden=False: (q.clone().requires_grad_(True), h)
    learner.target_controller.unroll = lambda b, with_hidden=False: (q.clone(), h)
    return learner


def test_qtran_losses_match_hand_computed_values():
    """Q_1 = (1, 0, 0), Q_2 = (0, 2, 0): ū = (0, 1), Σ Q_i(ū) = 3. Taken u = (2, 2): Σ Q_i(u) = 0.
    Q_jt(ū) = 5, Q_jt(u) = 4, V_jt = 1, reward 2 at a terminal (y = 2):
    L_td = (4 − 2)² = 4, L_opt = (3 − 5 + 1)² = 1, L_nopt = min(0 − 4 + 1, 0)² = 9 → 4 + 1 + 0.1 · 9."""
    table = torch.zeros(3, 3)
    table[0, 1], table[2, 2] = 5.0, 4.0
    q = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]).repeat(1, 2, 1, 1)     # [1, T+1, A, n]
    learner = _qtran(table, q)
    batch = _batch(T=1, A=2, n=3, reward=[2.0], terminal_at=0)
    batch.actions[0, 0] = torch.tensor([2, 2])
    loss, stats = learner.loss(batch.tensors())
    assert stats["td_loss"].item() == pytest.approx(4.0)
    assert stats["opt_loss"].item() == pytest.approx(1.0)
    assert stats["nopt_loss"].item() == pytest.approx(9.0)
    assert loss.item() == pytest.approx(4.0 + 1.0 + 0.9)


def test_qtran_non_optimality_constraint_is_one_sided_and_target_bootstraps_at_the_greedy_action():
    """Σ Q_i(u) − Q_jt(u) + V ≥ 0 costs nothing; a non-terminal step's target adds γ Q_jt^target(ū')."""
    table = torch.zeros(3, 3)
    table[0, 1] = 5.0
    q = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]).repeat(1, 3, 1, 1)
    learner = _qtran(table, q)
    batch = _batch(T=2, A=2, n=3, reward=[1.0, 0.0], terminal_at=1)
    batch.actions[:, :] = torch.tensor([0, 0])                                  # Σ Q = 1, Q_jt = 0, V = 1: ≥ 0
    loss, stats = learner.loss(batch.tensors())
    assert stats["nopt_loss"].item() == 0.0
    # y_0 = 1 + 0.5 · Q_jt(ū') = 1 + 2.5; y_1 = 0 (terminal); Q_jt(u) = 0 at both steps
    assert stats["td_loss"].item() == pytest.approx((3.5 ** 2 + 0.0) / 2)


def test_qtran_joint_q_ignores_absent_agents():
    torch.manual_seed(0)
    joint = QTRANJoint(n_actions=3, state_dim=2, hidden_dim=4, embed_dim=8)
    h = torch.randn(1, 1, 3, 4)
    x = MixerInput(torch.zeros(1, 1, 3), torch.randn(1, 1, 2), torch.tensor([[[1.0, 1.0, 0.0]]]),
                   torch.tensor([[[0, 1, 2]]]), agent_hidden=h)
    changed = MixerInput(x.agent_qs, x.state, x.agent_mask, torch.tensor([[[0, 1, 0]]]),
                         agent_hidden=torch.cat([h[..., :2, :], torch.randn(1, 1, 1, 4)], dim=2))
    assert torch.equal(joint(x)[0], joint(changed)[0])
