"""REFIL (Iqbal et al. 2021): randomized entity-wise factorization for imagined learning.

Besides the TD loss L on the real Q_tot, every sampled episode is split at random into two groups of
entities (p ~ U(0, 1) per episode, each entity, agent or enemy, in group 1 with probability p; fixed
over the episode's steps and drawn anew at every update). Each agent's utility is computed twice more,
attending only to the entities of its own group that it sees (Q_in) and only to those of the other
group (Q_out), each from its own recurrent unroll. The mixer values the 2A imagined utilities: for
QMIX agent i's in-group weight row attends within its group and its out-group row across it; for VDN
the sum. The imagined Q_tot regresses to the same target y as the real one:

    L_REFIL = (1 − λ) L + λ L_imagined,   λ = 0.5

Defaults are REFIL's SMAC configs (``refil.yaml``, ``refil_vdn.yaml``) over the attention agents and
mixer of ``attention.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from algorithms.components.learners import TDLoss, entity_view, masked_mse, take, taken_mean
from algorithms.components.mixers import EntityQMixer, MixerInput, VDNMixer
from algorithms.components.replay import EpisodeBatch
from algorithms.registry import register
from algorithms.value.attention import EntityConfig, EntityValueBased


@dataclass(frozen=True)
class REFILConfig(EntityConfig):
    lmbda: float = 0.5                    # weight of the imagined loss

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.lmbda <= 1.0:
            raise ValueError(f"lmbda must lie in [0, 1], got {self.lmbda}")


def draw_groups(batch_size: int, n_entities: int, generator: torch.Generator) -> torch.Tensor:
    """REFIL's random partition ``[B, E]`` bool (True: group 1): per episode p ~ U(0, 1), then each
    entity joins group 1 with probability p."""
    p = torch.rand(batch_size, 1, generator=generator)
    return torch.rand(batch_size, n_entities, generator=generator) < p


def imagined_masks(groups: torch.Tensor, batch: EpisodeBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """What each agent may attend to in the two imagined passes, ``[B, T+1, 2, A, E]`` bool: for the
    agents (their observation mask within their group, then across it) and for the mixer's rows (every
    present entity within the group, then across it)."""
    A = batch.actions.shape[-1]
    same = (groups.unsqueeze(-1) == groups.unsqueeze(-2))[:, None, :A]            # [B, 1, A, E]
    split = torch.stack([same, ~same], dim=2)                                      # [B, 1, 2, A, E]
    sees = batch.obs_mask.unsqueeze(2)                                             # [B, T+1, 1, A, E]
    present = (batch.agent_mask.unsqueeze(-1) & batch.entity_mask.unsqueeze(-2)).unsqueeze(2)
    return sees & split, present & split


class REFILLoss(TDLoss):
    """(1 − λ) L + λ L_imagined, both to the real target y."""

    def __init__(self, learner, lmbda: float) -> None:
        super().__init__(learner)
        self.lmbda = lmbda

    def forward(self, data: dict[str, torch.Tensor], groups: torch.Tensor):
        return self.imagined_objective(EpisodeBatch(**data), groups)

    def td_terms(self, batch: EpisodeBatch):
        """The real Q_tot, its target y and the step mask (the learner's; MIPI's soft target overrides it)."""
        return self.learner[0].td_terms(batch)

    def imagined_objective(self, batch: EpisodeBatch, groups: torch.Tensor):
        learner, controller = self.learner[0], self.online["controller"]
        chosen_tot, y, mask, agent_q, _ = self.td_terms(batch)                     # real Q_tot and y [B, T]
        agents, mixer_rows = imagined_masks(groups, batch)                         # [B, T+1, 2, A, E] each
        actions = batch.actions.long()                                             # [B, T, A]
        q_in = take(controller.unroll(batch, agents[:, :, 0])[:, :-1], actions)    # [B, T, A]
        q_out = take(controller.unroll(batch, agents[:, :, 1])[:, :-1], actions)   # [B, T, A]
        agent_mask = batch.agent_mask.float()[:, :-1]                              # [B, T, A]
        imagined = learner.mix(learner.mixer, MixerInput(
            torch.cat([q_in, q_out], dim=-1), batch.state[:, :-1], torch.cat([agent_mask, agent_mask], dim=-1),
            attend_imagined=mixer_rows[:, :-1], **entity_view(batch).steps(0)))    # [B, T]
        real_loss, imagined_loss = masked_mse(chosen_tot - y, mask), masked_mse(imagined - y, mask)
        loss = (1 - self.lmbda) * real_loss + self.lmbda * imagined_loss
        return loss, {"q_taken_mean": taken_mean(agent_q, batch), "real_loss": real_loss.detach(),
                      "imagined_loss": imagined_loss.detach()}


class REFIL(EntityValueBased):
    """Attention agents and mixer trained on the real and the imagined sub-group objective."""

    config_cls = REFILConfig

    def loss_args(self, batch, generator):
        return (draw_groups(batch.batch_size, batch.entities.shape[2], generator),)

    def build_loss(self, config: REFILConfig):
        return partial(REFILLoss, lmbda=config.lmbda)


@register
class REFILQMIX(REFIL):
    """REFIL(QMIX): the attention QMIX mixer, with per-group weight rows for the imagined utilities."""

    name = "refil_qmix"

    def build_mixer(self, info, config: REFILConfig) -> EntityQMixer:
        return self.entity_mixer(info, config)


@register
class REFILVDN(REFIL):
    """REFIL(VDN): the imagined Q_tot is the sum of all 2A imagined utilities."""

    name = "refil_vdn"

    def build_mixer(self, info, config):
        return VDNMixer()
