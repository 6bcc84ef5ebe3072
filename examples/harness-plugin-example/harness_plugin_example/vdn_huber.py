"""``vdn_huber``: VDN (an additive mixer over the value-based body) trained with a Huber TD loss.

Composed from the harness's parts: the value-based body (recurrent agents, episode replay, the TD
learner), VDN's mixer and the TD objective of :mod:`harness_plugin_example.huber`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, ClassVar

from algorithms.base import AlgorithmConfig
from algorithms.components.learners import TDLearner, TDLoss
from algorithms.components.mixers import VDNMixer
from algorithms.value.q_learning import QLearningConfig, ValueBased
from harness.envs.base import EnvInfo
from harness_plugin_example.huber import HuberTDLoss


@dataclass(frozen=True)
class VDNHuberConfig(QLearningConfig):
    """PyMARL's value-based defaults plus the Huber threshold."""

    huber_delta: float = 1.0              # |TD error| beyond which the loss grows linearly

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.huber_delta <= 0:
            raise ValueError(f"huber_delta must be positive, got {self.huber_delta}")


class VDNHuber(ValueBased):
    """VDN with a Huber TD loss; a suite names it ``vdn_huber`` and overrides ``huber_delta``."""

    name = "vdn_huber"
    config_cls: ClassVar[type[AlgorithmConfig]] = VDNHuberConfig

    def build_mixer(self, info: EnvInfo, config: VDNHuberConfig) -> VDNMixer:
        return VDNMixer()

    def build_loss(self, config: VDNHuberConfig) -> Callable[[TDLearner], TDLoss]:
        return functools.partial(HuberTDLoss, delta=config.huber_delta)
