"""QMIX (Rashid et al. 2018): a state-conditioned monotonic mixing network over agent utilities."""
from __future__ import annotations

from dataclasses import dataclass

from algorithms.components.mixers import QMixer
from algorithms.registry import register
from algorithms.value.q_learning import QLearningConfig, ValueBased


@dataclass(frozen=True)
class QMIXConfig(QLearningConfig):
    mixing_embed_dim: int = 32
    hypernet_layers: int = 2
    hypernet_embed: int = 64


@register
class QMIX(ValueBased):
    """Hyper-networks map the state to non-negative mixing weights, so argmax Q_tot = per-agent argmax."""

    name = "qmix"
    config_cls = QMIXConfig

    def build_mixer(self, info, config: QMIXConfig):
        return QMixer(info.n_agents, info.state_dim, config.mixing_embed_dim,
                      config.hypernet_layers, config.hypernet_embed)
