"""QPLEX (Wang et al. 2021): duplex dueling value factorisation, complete for the IGM function class.

Q_tot(τ, u) = Σ_i V_i(τ) + Σ_i λ_i(τ, u) A_i(τ, u_i), with V_i, A_i the transformed per-agent value and
advantage (A_i ≤ 0, zero at the greedy action) and λ_i > 0 from multi-head attention over the state and
the joint action (``components/mixers.QPLEXMixer``). The TD target evaluates the target mixer at the
online agents' greedy next actions (double Q) with V_i from the target agents' own maxima, as the
authors' code does. Defaults are its SMAC config ``qplex_sc2.yaml``: 4 attention heads of one layer,
hyper-networks of 64, PyMARL's learner settings.
"""
from __future__ import annotations

from dataclasses import dataclass

from algorithms.components.mixers import QPLEXMixer
from algorithms.registry import register
from algorithms.value.q_learning import QLearningConfig, ValueBased


@dataclass(frozen=True)
class QPLEXConfig(QLearningConfig):
    hypernet_embed: int = 64          # width of the w_i(s), b_i(s) hyper-networks
    attention_heads: int = 4          # K heads of λ (num_kernel)
    attention_layers: int = 1         # layers of each λ extractor (adv_hypernet_layers)
    attention_embed: int = 64         # their width (adv_hypernet_embed)


@register
class QPLEX(ValueBased):
    """Duplex dueling mixer on PyMARL's recurrent agents, trained on the team TD error."""

    name = "qplex"
    config_cls = QPLEXConfig

    def build_mixer(self, info, config: QPLEXConfig):
        return QPLEXMixer(info.n_agents, info.n_actions, info.state_dim, config.hypernet_embed,
                          config.attention_heads, config.attention_layers, config.attention_embed)
