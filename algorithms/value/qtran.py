"""QTRAN-base (Son et al. 2019): factorisation by transformation, with IGM enforced by soft constraints.

A joint Q_jt(τ, u) (from the agents' hidden states and actions) learns the team TD target; the
individual utilities are tied to it by

    Σ_i Q_i(τ_i, ū_i) − Q_jt(τ, ū) + V_jt(τ) = 0          (ū the greedy joint action: L_opt)
    Σ_i Q_i(τ_i, u_i) − Q_jt(τ, u) + V_jt(τ) ≥ 0          (every other u: L_nopt, the negative part)

    L = L_td + λ_opt L_opt + λ_nopt L_nopt

with Q_jt held fixed in the two constraint losses. The TD target values the target joint network at the
online agents' greedy next actions (double Q). Defaults are PyMARL's ``qtran.yaml``: λ_opt = 1,
λ_nopt = 0.1, joint networks of 64 ("qtran_paper" architecture, ``components/mixers.QTRANJoint``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from algorithms.components.learners import TDLoss, greedy_actions, masked_mse, take, taken_mean
from algorithms.components.mixers import MixerInput, QTRANJoint
from algorithms.components.replay import EpisodeBatch
from algorithms.registry import register
from algorithms.value.q_learning import QLearningConfig, ValueBased


@dataclass(frozen=True)
class QTRANConfig(QLearningConfig):
    mixing_embed_dim: int = 64
    opt_loss: float = 1.0             # λ_opt
    nopt_min_loss: float = 0.1        # λ_nopt


class QTRANLoss(TDLoss):
    """L_td on Q_jt plus the optimality and non-optimality constraint losses on Σ Q_i and V_jt."""

    def __init__(self, learner, opt_weight: float, nopt_weight: float) -> None:
        super().__init__(learner)
        self.opt_weight, self.nopt_weight = opt_weight, nopt_weight

    def objective(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        learner, on, tg = self.learner[0], self.online, self.target
        actions = batch.actions.long()                                             # [B, T, A]
        mask = batch.filled.float()                                                # [B, T]
        agent_mask = batch.agent_mask.float()                                      # [B, T+1, A]
        state = batch.state                                                        # [B, T+1, S]
        q, h = on["controller"].unroll(batch, with_hidden=True)                   # [B, T+1, A, n], [.., H]
        greedy = greedy_actions(q.detach(), batch.avail_actions)                   # [B, T+1, A] ū
        chosen = take(q[:, :-1], actions)                                          # [B, T, A]
        q_max = take(q[:, :-1], greedy[:, :-1])                                    # [B, T, A]
        q_jt, v_jt = learner.mix(on["mixer"], MixerInput(
            chosen, state[:, :-1], agent_mask[:, :-1], actions, agent_hidden=h[:, :-1]))   # [B, T] each
        with torch.no_grad():   # Q_jt(τ, ū) by the online joint network, a constant in L_opt
            q_jt_greedy, _ = learner.mix(on["mixer"], MixerInput(
                q_max, state[:, :-1], agent_mask[:, :-1], greedy[:, :-1], agent_hidden=h[:, :-1]))
            qt, ht = tg["controller"].unroll(batch, with_hidden=True)
            best = greedy[:, 1:] if learner.s.double_q else greedy_actions(qt, batch.avail_actions)[:, 1:]
            q_jt_next, _ = learner.mix(tg["mixer"], MixerInput(
                take(qt[:, 1:], best), state[:, 1:], agent_mask[:, 1:], best, agent_hidden=ht[:, 1:]))
            y = batch.reward + learner.s.gamma * learner.not_done(batch) * q_jt_next          # [B, T]
        td_loss = masked_mse(q_jt - y, mask)
        am = agent_mask[:, :-1]
        opt = (q_max * am).sum(-1) - q_jt_greedy + v_jt                   # [B, T]
        nopt = ((chosen * am).sum(-1) - q_jt.detach() + v_jt).clamp(max=0.0)      # [B, T]
        opt_loss, nopt_loss = masked_mse(opt, mask), masked_mse(nopt, mask)
        loss = td_loss + self.opt_weight * opt_loss + self.nopt_weight * nopt_loss
        return loss, {"q_taken_mean": taken_mean(chosen, batch), "td_loss": td_loss.detach(),
                      "opt_loss": opt_loss.detach(), "nopt_loss": nopt_loss.detach()}


@register
class QTRAN(ValueBased):
    """PyMARL's recurrent agents with QTRAN-base's joint Q_jt and V_jt as the "mixer"."""

    name = "qtran"
    config_cls = QTRANConfig

    def build_mixer(self, info, config: QTRANConfig):
        return QTRANJoint(info.n_actions, info.state_dim, config.rnn_hidden_dim, config.mixing_embed_dim)

    def build_loss(self, config: QTRANConfig):
        return partial(QTRANLoss, opt_weight=config.opt_loss, nopt_weight=config.nopt_min_loss)
