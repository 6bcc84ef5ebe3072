"""CollaQ (Zhang et al. 2020) on entity observations, as MIPI's appendix re-implements it on REFIL's
framework: each agent's utility splits into a self term and an interactive term,

    Q_i(s_i, s_-i) = Q_i^alone(s_i) + Q_i^collab(s_i, s_-i),

Q^alone an entity agent that attends only to the agent's own entity, Q^collab one that attends to every
entity the agent sees. The MARA loss makes the interactive term vanish when nobody else is there:
L = L_TD + w_MARA · E[Q_i^collab(s_i, ∅)²], the interactive agent evaluated on the agent's own entity
alone (from its recurrent state on the real trajectory). The utilities are mixed by attention QMIX's
mixer. Defaults: REFIL's networks and learner settings, as for AQMIX; w_MARA = 1 (an assumption: MIPI's
appendix gives no value).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from algorithms.components.entities import EntityAgent, EntityController
from algorithms.components.learners import TDLoss, masked_mean, masked_mse, taken_mean
from algorithms.components.replay import EpisodeBatch
from algorithms.registry import register
from algorithms.value.attention import EntityConfig, EntityValueBased


@dataclass(frozen=True)
class CollaQConfig(EntityConfig):
    mara_weight: float = 1.0              # weight of the MARA loss

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mara_weight < 0:
            raise ValueError(f"mara_weight must be >= 0, got {self.mara_weight}")


def own_entity(allowed: torch.Tensor) -> torch.Tensor:
    """``allowed [N, A, E]`` cut to each agent's own entity (agents are the first A entities)."""
    A, E = allowed.shape[-2:]
    return allowed & torch.eye(A, E, dtype=torch.bool, device=allowed.device)


class CollaQAgent(nn.Module):
    """The self and interactive entity agents side by side; the hidden state holds both ``[N, A, 2H]``.
    Returns Q^alone + Q^collab, the next hidden state and ``{"collab_alone": Q^collab(s_i, ∅)}``."""

    def __init__(self, input_dim: int, n_actions: int, embed_dim: int, heads: int, hidden_dim: int) -> None:
        super().__init__()
        self.alone = EntityAgent(input_dim, n_actions, embed_dim, heads, hidden_dim)
        self.collab = EntityAgent(input_dim, n_actions, embed_dim, heads, hidden_dim)
        self.hidden_dim = 2 * hidden_dim

    def forward(self, entities, allowed, hidden):
        h_alone, h_collab = hidden.chunk(2, dim=-1)                                # [N, A, H] each
        self_only = own_entity(allowed)
        q_alone, h_alone = self.alone(entities, self_only, h_alone)                # [N, A, n]
        q_collab, h_next = self.collab(entities, allowed, h_collab)
        q_collab_alone, _ = self.collab(entities, self_only, h_collab)            # nobody else there
        return q_alone + q_collab, torch.cat([h_alone, h_next], dim=-1), {"collab_alone": q_collab_alone}


class CollaQLoss(TDLoss):
    """The TD loss on Q_tot plus the weighted MARA loss."""

    def __init__(self, learner, mara_weight: float) -> None:
        super().__init__(learner)
        self.mara_weight = mara_weight

    def objective(self, batch: EpisodeBatch):
        q, aux = self.online["controller"].unroll(batch, with_aux=True)           # [B, T+1, A, n]
        terms = self.learner[0].td_terms(batch, q)
        td = masked_mse(terms.chosen - terms.y, terms.mask)
        mask = (batch.filled.float().unsqueeze(-1) * batch.agent_mask[:, :-1].float()).unsqueeze(-1) \
            * batch.avail_actions[:, :-1].float()                                  # [B, T, A, n]
        mara = masked_mean(aux["collab_alone"][:, :-1].pow(2), mask)
        return td + self.mara_weight * mara, {"q_taken_mean": taken_mean(terms.agent_q, batch),
                                               "td_loss": td.detach(), "mara_loss": mara.detach()}


@register
class CollaQ(EntityValueBased):
    """Self and interactive utilities per agent, the MARA loss, attention QMIX's mixer."""

    name = "collaq"
    config_cls = CollaQConfig

    def build_controller(self, info, config: CollaQConfig):
        agent = CollaQAgent(info.entity_dim + info.n_actions, info.n_actions, config.attn_embed_dim,
                            config.attn_heads, config.rnn_hidden_dim)
        return EntityController(info.n_agents, info.n_actions, agent)

    def build_mixer(self, info, config: CollaQConfig):
        return self.entity_mixer(info, config)

    def build_loss(self, config: CollaQConfig):
        return lambda learner: CollaQLoss(learner, config.mara_weight)
