"""Attention VDN and attention QMIX (REFIL's ``vdn_atten`` and ``qmix_atten``; MIPI's "AQMIX"): PyMARL's
value factorisation with entity-attention agents and, for QMIX, a mixer whose hyper-networks attend over
the entity state, so one set of parameters trains and acts on teams of any size.

Each agent embeds every entity (its features and, on agents' rows, their previous action), attends over
the entities it sees with its own entity as the query, and feeds the result to a GRU
(``components/entities.py``); there is no agent-id input. Defaults are REFIL's SMAC configs: attention
128 wide with 4 heads, GRU 64, hyper-networks 128, mixing width 32, softmax-positive mixing weights,
ε annealed over 500k steps, and PyMARL's learner settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from algorithms.base import Capabilities
from algorithms.components.entities import EntityAgent, EntityController
from algorithms.components.mixers import EntityQMixer, VDNMixer
from algorithms.registry import register
from algorithms.value.q_learning import QLearningConfig, ValueBased


@dataclass(frozen=True)
class EntityConfig(QLearningConfig):
    epsilon_anneal_time: int = 500_000    # REFIL's multi-task SMAC setting
    attn_embed_dim: int = 128
    attn_heads: int = 4
    hypernet_embed: int = 128
    mixing_embed_dim: int = 32
    softmax_mixing_weights: bool = True


class EntityValueBased(ValueBased):
    """Value factorisation on the entity view: entity-attention agents, any team size."""

    config_cls = EntityConfig
    capabilities: ClassVar[Capabilities] = Capabilities(discrete_actions=True, needs_state=False,
                                                        needs_entities=True, variable_team_size=True)

    def build_controller(self, info, config: EntityConfig):
        agent = EntityAgent(info.entity_dim + info.n_actions, info.n_actions, config.attn_embed_dim,
                            config.attn_heads, config.rnn_hidden_dim)
        return EntityController(info.n_agents, info.n_actions, agent)

    def agent_inputs(self, step):
        return (step.entities, step.obs_mask)

    def entity_mixer(self, info, config: EntityConfig) -> EntityQMixer:
        return EntityQMixer(info.entity_dim + info.n_actions, config.mixing_embed_dim, config.hypernet_embed,
                            config.attn_heads, config.softmax_mixing_weights)


@register
class AttentionVDN(EntityValueBased):
    """Q_tot = Σ_a Q_a over the present agents, with entity-attention agents."""

    name = "attn_vdn"

    def build_mixer(self, info, config):
        return VDNMixer()


@register
class AttentionQMIX(EntityValueBased):
    """QMIX's monotonic mix with attention hyper-networks over the entity state."""

    name = "attn_qmix"

    def build_mixer(self, info, config):
        return self.entity_mixer(info, config)
