"""Attention MAPPO (MIPI's "MAPPO" baseline for varying team sizes): MAPPO with entity attention in the
policy and in the critic, so one set of parameters acts and learns on teams of any size.

MIPI's appendix B.2 builds it "following Papoudakis et al. (2021), with additional attention modules
used in the policy and the critic to handle dynamic team compositions" and publishes no code. Here:

- the policy π(u_a|τ_a) is REFIL's entity agent (linear → ReLU → attention with the agent's own
  entity as query over the entities it sees → linear → ReLU → GRU → one logit per action), without
  the previous action (MAPPO's actor reads none) and without an agent id (the own entity tells agents
  apart);
- the critic V(s)_a attends from agent a's entity over every present entity of the entity state
  (:class:`~algorithms.components.critics.EntityValue`), one value per agent;
- everything else is :mod:`algorithms.actor_critic.mappo` unchanged: fixed-horizon rollouts, GAE,
  the clipped surrogate over active agents, the clipped Huber value loss on normalised targets.

Attention widths are REFIL's (128 wide, 4 heads), the GRU MAPPO's 64.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from algorithms.actor_critic.mappo import MAPPO, MAPPOConfig
from algorithms.base import AlgorithmConfig, Capabilities
from algorithms.components.critics import EntityValue
from algorithms.components.entities import EntityAgent, EntityController
from algorithms.components.rollouts import StepBatch
from algorithms.registry import register
from harness.envs.base import EnvInfo, EnvStep


@dataclass(frozen=True)
class AttentionMAPPOConfig(MAPPOConfig):
    attn_embed_dim: int = 128
    attn_heads: int = 4
    own_skip: bool = True              # the actor's own embedded entity past its attention (see the module doc)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.recurrent:
            raise ValueError("attn_mappo's actor is REFIL's recurrent entity agent: recurrent must be true")
        if self.attn_embed_dim % self.attn_heads:
            raise ValueError(f"attn_embed_dim ({self.attn_embed_dim}) must be a multiple of attn_heads "
                             f"({self.attn_heads})")


@register
class AttentionMAPPO(MAPPO):
    """MAPPO whose actor attends over the entities each agent sees and whose critic over all present ones."""

    name = "attn_mappo"
    config_cls: ClassVar[type[AlgorithmConfig]] = AttentionMAPPOConfig
    capabilities: ClassVar[Capabilities] = Capabilities(discrete_actions=True, needs_state=False, off_policy=False,
                                                        needs_entities=True, variable_team_size=True)

    def build_actor(self, info: EnvInfo, config: AttentionMAPPOConfig) -> nn.Module:
        agent = EntityAgent(info.entity_dim, info.n_actions, config.attn_embed_dim, config.attn_heads,
                            config.rnn_hidden_dim, own_skip=config.own_skip)
        return EntityController(info.n_agents, info.n_actions, agent, last_action=False)

    def build_critic(self, info: EnvInfo, config: AttentionMAPPOConfig) -> nn.Module:
        return EntityValue(info.entity_dim, config.attn_embed_dim, config.attn_heads, config.critic_hidden_dim)

    def actor_step_inputs(self, step: EnvStep) -> tuple:
        return (step.entities.to(self.device), step.obs_mask.to(self.device), None)

    def actor_inputs(self, r: StepBatch) -> tuple[torch.Tensor, ...]:
        return (r.entities.to(self.device), r.obs_mask.to(self.device))          # [B, H+1, E, d], [B, H+1, A, E]

    def critic_inputs(self, r: StepBatch) -> tuple[torch.Tensor, ...]:
        present = r.agent_mask.unsqueeze(-1) & r.entity_mask.unsqueeze(-2)        # [B, H+1, A, E]
        return (r.entities.to(self.device), present.to(self.device))
