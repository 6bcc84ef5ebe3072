"""TD learner for value-based MARL: n-agent Q-learning with an optional mixer, target networks, double Q."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Generator, NamedTuple

import torch
from torch import nn

from algorithms.calls import Call
from algorithms.components.agents import AgentController
from algorithms.components.mixers import MixerInput
from algorithms.components.replay import EpisodeBatch


@dataclass(frozen=True)
class TDSettings:
    gamma: float
    lr: float
    optimizer: str            # "rmsprop" or "adam"
    optim_alpha: float
    optim_eps: float
    grad_norm_clip: float
    double_q: bool
    target_update_interval: int   # episodes between hard target updates
    time_limit: str = "bootstrap"  # "terminal": a time-out ends the return; "bootstrap": it does not
    mixer_steps: int = 0           # steps the mixer is evaluated on (the episode limit; 0: the batch's)


class TDTerms(NamedTuple):
    chosen: torch.Tensor    # [B, T] Q_tot of the taken joint action, or [B, T, A] per agent
    y: torch.Tensor         # same shape: the TD targets (no gradient)
    mask: torch.Tensor      # same shape: 1 where the step happened (and the agent exists)
    agent_q: torch.Tensor   # [B, T, A] each agent's Q of its taken action


class TDLoss(nn.Module):
    """The TD loss of a batch as one module (online and target networks as children), so a run group
    can evaluate it for all its runs at once (``algorithms/calls.py``)."""

    def __init__(self, learner: "TDLearner") -> None:
        super().__init__()
        self.controller, self.mixer = learner.controller, learner.mixer
        self.target_controller, self.target_mixer = learner.target_controller, learner.target_mixer
        self.learner = [learner]   # a list: not a child module (its networks are the children above)

    def forward(self, data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean squared TD error over real steps, and the mean Q of the taken actions."""
        batch = EpisodeBatch(**data)
        chosen, y, mask, agent_q = self.learner[0].td_terms(batch)
        td = (chosen - y) * mask
        loss = (td ** 2).sum() / mask.sum().clamp(min=1.0)
        step_mask = batch.filled.float().unsqueeze(-1) * batch.agent_mask[:, :-1].float()   # [B, T, A]
        q_taken = (agent_q.detach() * step_mask).sum() / step_mask.sum().clamp(min=1.0)
        return loss, {"q_taken_mean": q_taken}


class TDLearner:
    """Minimises (Q_tot(s,u) - y)^2 with y = r + gamma (1 - end) Q_tot^target(s', argmax ...), where
    ``end`` is the game's terminal, and also a time-out under ``time_limit="terminal"``.

    Without a mixer every agent learns its own utility from the team reward (independent Q-learning).
    """

    def __init__(self, controller: AgentController, mixer: nn.Module | None, settings: TDSettings) -> None:
        self.controller, self.mixer, self.s = controller, mixer, settings
        self.target_controller = copy.deepcopy(controller)
        self.target_mixer = copy.deepcopy(mixer) if mixer is not None else None
        for target in (self.target_controller, self.target_mixer):
            if target is not None:
                target.requires_grad_(False)
        self.loss = TDLoss(self)
        self.params = list(controller.parameters()) + (list(mixer.parameters()) if mixer is not None else [])
        if settings.optimizer == "adam":
            self.optimiser = torch.optim.Adam(self.params, lr=settings.lr, eps=settings.optim_eps)
        else:
            self.optimiser = torch.optim.RMSprop(self.params, lr=settings.lr, alpha=settings.optim_alpha,
                                                 eps=settings.optim_eps)
        self.last_target_update_episode = 0

    def td_terms(self, batch: EpisodeBatch) -> "TDTerms":
        """Q of the taken actions, TD targets y and the mask of real steps: ``[B, T]`` with a mixer
        (Q_tot), ``[B, T, A]`` without (each agent's Q); plus each agent's chosen Q ``[B, T, A]``."""
        actions = batch.actions.long().unsqueeze(-1)                               # [B, T, A, 1]
        q = self.controller.unroll(batch)                                          # [B, T+1, A, n]
        chosen = q[:, :-1].gather(-1, actions).squeeze(-1)                         # [B, T, A]
        with torch.no_grad():
            target_q = self.target_controller.unroll(batch)[:, 1:]                # [B, T, A, n]
            next_avail = batch.avail_actions[:, 1:]                                # [B, T, A, n]
            # double Q: the online net selects, the target net values; else the target net does both
            selector = q.detach()[:, 1:] if self.s.double_q else target_q
            best = selector.masked_fill(~next_avail, -1e9).argmax(-1)              # [B, T, A]
            target_next = target_q.gather(-1, best.unsqueeze(-1)).squeeze(-1)     # [B, T, A]
        agent_mask = batch.agent_mask.float()                                      # [B, T+1, A]
        reward = batch.reward                                                      # [B, T]
        not_done = 1.0 - batch.end_of_return(self.s.time_limit).float()            # [B, T]
        if self.mixer is not None:
            avail = batch.avail_actions[:, :-1]
            chosen_tot = self.mix(self.mixer, MixerInput(                                     # [B, T]
                chosen, batch.state[:, :-1], agent_mask[:, :-1], actions.squeeze(-1), q[:, :-1],
                q.detach()[:, :-1].masked_fill(~avail, -1e9).argmax(-1)))
            with torch.no_grad():
                target_tot = self.mix(self.target_mixer, MixerInput(
                    target_next, batch.state[:, 1:], agent_mask[:, 1:], best, target_q, best))
            y = reward + self.s.gamma * not_done * target_tot                              # [B, T]
            return TDTerms(chosen_tot, y, batch.filled.float(), chosen)
        y = reward.unsqueeze(-1) + self.s.gamma * not_done.unsqueeze(-1) * target_next      # [B, T, A]
        return TDTerms(chosen, y, batch.filled.float().unsqueeze(-1) * agent_mask[:, :-1], chosen)

    def mix(self, mixer: nn.Module, x: MixerInput) -> torch.Tensor:
        """Q_tot ``[B, T]`` from a mixer evaluated on ``mixer_steps`` steps (zero-padded, then cut back):
        its weight gradients then sum over the same rows however long the sampled batch is, so a run
        alone and in a run group (whose batches are padded to the group's longest) get the same bits.
        The recurrent unroll needs no such care: it goes step by step."""
        T = x.agent_qs.shape[1]
        if self.s.mixer_steps > T:
            return mixer(x.padded(self.s.mixer_steps))[:, :T]
        return mixer(x)

    def update(self, batch: EpisodeBatch, episodes_seen: int) -> Generator[Call, Any, dict[str, float]]:
        """One gradient step on a sampled batch (a program: the loss is a :class:`Call`); returns scalar
        logs. Raises on a non-finite loss, before any parameter moves.

        Targets are copied when ``target_update_interval`` episodes have passed since the last copy."""
        self.optimiser.zero_grad()
        loss, stats = yield Call(self.loss, (batch.tensors(),), grad=True, pad=True)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite TD loss ({loss.item()})")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.s.grad_norm_clip)
        self.optimiser.step()
        if (episodes_seen - self.last_target_update_episode) / self.s.target_update_interval >= 1.0:
            self.update_targets()
            self.last_target_update_episode = episodes_seen
        return {"loss": loss.item(), "grad_norm": float(grad_norm), "q_taken_mean": float(stats["q_taken_mean"])}

    def update_targets(self) -> None:
        self.target_controller.load_state_dict(self.controller.state_dict())
        if self.mixer is not None:
            self.target_mixer.load_state_dict(self.mixer.state_dict())

    def state_dict(self) -> dict[str, Any]:
        return {
            "controller": self.controller.state_dict(),
            "mixer": self.mixer.state_dict() if self.mixer is not None else None,
            "target_controller": self.target_controller.state_dict(),
            "target_mixer": self.target_mixer.state_dict() if self.mixer is not None else None,
            "optimiser": self.optimiser.state_dict(),
            "last_target_update_episode": self.last_target_update_episode,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.target_controller.load_state_dict(state["target_controller"])
        if self.mixer is not None:
            self.mixer.load_state_dict(state["mixer"])
            self.target_mixer.load_state_dict(state["target_mixer"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.last_target_update_episode = state["last_target_update_episode"]
