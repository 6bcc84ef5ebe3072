"""Weighted QMIX (Rashid et al. 2020): OW-QMIX and CW-QMIX.

QMIX's projection minimises an unweighted squared error over all joint actions, so a monotonic Q_tot can
settle on a sub-optimal greedy action. Weighted QMIX learns an unrestricted central Q̂* (its own
recurrent agents and a feed-forward mixer, ``components/mixers.CentralMixer``) and projects onto QMIX
with a weight w(s, u) ∈ {α, 1} that keeps the better joint actions exact:

    y = r + γ Q̂*_target(s', ū'),   ū' = the QMIX agents' greedy joint action at s'
    L = Σ w(s, u) (Q_tot(s, u) − y)² + Σ (Q̂*(s, u) − y)²

- **OW** (optimistic): w = 1 where Q_tot(s, u) < y, else α.
- **CW** (central): w = 1 where u = ū (the greedy joint action) or y > Q̂*_target(s, ū), else α.

Both losses share one optimiser (PyMARL's RMSprop) and every network has a target copy. Defaults are
the authors' configs (``ow_qmix.yaml``, ``cw_qmix.yaml``): α = 0.1, central mixer 3 × 256.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from algorithms.components.agents import AgentController
from algorithms.components.learners import TDLoss, greedy_actions, masked_mean, masked_mse, take, taken_mean
from algorithms.components.mixers import CentralMixer, MixerInput
from algorithms.components.replay import EpisodeBatch
from algorithms.registry import register
from algorithms.value.qmix import QMIX, QMIXConfig


@dataclass(frozen=True)
class WeightedQMIXConfig(QMIXConfig):
    alpha: float = 0.1                    # weight of the joint actions the scheme does not favour ("w")
    central_mixing_embed_dim: int = 256
    central_mixing_layers: int = 3
    qmix_loss_weight: float = 1.0
    central_loss_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")


def ow_weights(q_tot: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """OW-QMIX's w(s, u): 1 where Q_tot(s, u) < y (the projection underestimates), else α."""
    return torch.where(q_tot < y, 1.0, alpha)


def cw_weights(is_greedy: torch.Tensor, y: torch.Tensor, star_greedy: torch.Tensor, alpha: float) -> torch.Tensor:
    """CW-QMIX's w(s, u): 1 where u is the greedy joint action ū or y > Q̂*(s, ū), else α."""
    return torch.where(is_greedy | (y > star_greedy), 1.0, alpha)


class WeightedQMIXLoss(TDLoss):
    """The weighted QMIX projection plus the central Q̂*'s TD loss, both to the target y from Q̂*."""

    def __init__(self, learner, scheme: str, alpha: float, qmix_weight: float, central_weight: float) -> None:
        super().__init__(learner)
        self.scheme, self.alpha = scheme, alpha
        self.qmix_weight, self.central_weight = qmix_weight, central_weight

    def objective(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        learner, on, tg = self.learner[0], self.online, self.target
        actions = batch.actions.long()                                             # [B, T, A]
        mask = batch.filled.float()                                                # [B, T]
        agent_mask = batch.agent_mask.float()                                      # [B, T+1, A]
        state = batch.state                                                        # [B, T+1, S]
        q = on["controller"].unroll(batch)                                         # [B, T+1, A, n]
        chosen = take(q[:, :-1], actions)                                          # [B, T, A]
        q_tot = learner.mix(on["mixer"], MixerInput(chosen, state[:, :-1], agent_mask[:, :-1]))   # [B, T]
        with torch.no_grad():
            greedy = greedy_actions(q.detach(), batch.avail_actions)               # [B, T+1, A] ū
            qc_target = tg["central_controller"].unroll(batch)                     # [B, T+1, A, n]
            star_next = learner.mix(tg["central_mixer"], MixerInput(
                take(qc_target[:, 1:], greedy[:, 1:]), state[:, 1:], agent_mask[:, 1:]))     # [B, T]
            y = batch.reward + learner.s.gamma * learner.not_done(batch) * star_next         # [B, T]
            if self.scheme == "ow":
                w = ow_weights(q_tot.detach(), y, self.alpha)                      # [B, T]
            else:
                star_greedy = learner.mix(tg["central_mixer"], MixerInput(
                    take(qc_target[:, :-1], greedy[:, :-1]), state[:, :-1], agent_mask[:, :-1]))   # [B, T]
                is_greedy = ((actions == greedy[:, :-1]) | (agent_mask[:, :-1] == 0)).all(dim=-1)  # [B, T]
                w = cw_weights(is_greedy, y, star_greedy, self.alpha)              # [B, T]
        qc = on["central_controller"].unroll(batch)                                # [B, T+1, A, n]
        q_star = learner.mix(on["central_mixer"], MixerInput(
            take(qc[:, :-1], actions), state[:, :-1], agent_mask[:, :-1]))         # [B, T]
        qmix_loss = masked_mse(q_tot - y, mask, w)
        central_loss = masked_mse(q_star - y, mask)
        loss = self.qmix_weight * qmix_loss + self.central_weight * central_loss
        return loss, {"q_taken_mean": taken_mean(chosen, batch), "qmix_loss": qmix_loss.detach(),
                      "central_loss": central_loss.detach(), "weight_mean": masked_mean(w, mask)}


class WeightedQMIX(QMIX):
    """QMIX's agents and mixer, plus the central Q̂* (agents and mixer) and the weighted objective."""

    config_cls = WeightedQMIXConfig
    scheme = ""

    def build_extra(self, info, config: WeightedQMIXConfig):
        return {"central_controller": AgentController(info.n_agents, info.obs_dim, info.n_actions,
                                                      config.rnn_hidden_dim, config.obs_last_action,
                                                      config.obs_agent_id),
                "central_mixer": CentralMixer(info.n_agents, info.state_dim, config.central_mixing_embed_dim,
                                              config.central_mixing_layers)}

    def build_loss(self, config: WeightedQMIXConfig):
        return partial(WeightedQMIXLoss, scheme=self.scheme, alpha=config.alpha,
                       qmix_weight=config.qmix_loss_weight, central_weight=config.central_loss_weight)


@register
class OWQMIX(WeightedQMIX):
    """Optimistically weighted: full weight where Q_tot underestimates the target."""

    name = "ow_qmix"
    scheme = "ow"


@register
class CWQMIX(WeightedQMIX):
    """Centrally weighted: full weight on the greedy joint action and where the target beats Q̂*(s, ū)."""

    name = "cw_qmix"
    scheme = "cw"
