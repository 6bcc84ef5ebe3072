"""TD learner for value-based MARL: n-agent Q-learning with an optional mixer, target networks, double Q."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Generator, NamedTuple

import torch
from torch import nn
from torch.utils._pytree import tree_map

from algorithms.calls import Call
from algorithms.components.agents import AgentController
from algorithms.components.entities import batch_entity_inputs
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
    mixer_aux: Any = None   # what a mixer returns beside Q_tot (OPT's disagreement loss), if anything


class TDLoss(nn.Module):
    """The TD loss of a batch as one module (the learner's online and target networks as children), so
    a run group can evaluate it for all its runs at once (``algorithms/calls.py``). Methods with other
    objectives (QTRAN's constraints, weighted QMIX's central critic) subclass it and override
    :meth:`objective`."""

    def __init__(self, learner: "TDLearner") -> None:
        super().__init__()
        self.online = nn.ModuleDict(learner.online)
        self.target = nn.ModuleDict(learner.target)
        self.learner = [learner]   # a list: not a child module (its networks are the children above)

    def forward(self, data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.objective(EpisodeBatch(**data))

    def objective(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean squared TD error over real steps, and the mean Q of the taken actions."""
        terms = self.learner[0].td_terms(batch)
        return masked_mse(terms.chosen - terms.y, terms.mask), {"q_taken_mean": taken_mean(terms.agent_q, batch)}


def masked_mse(error: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """sum(w * (mask * error)^2) / sum(mask): the mean (weighted) squared error over real entries."""
    sq = (error * mask) ** 2
    return (sq if weight is None else weight * sq).sum() / mask.sum().clamp(min=1.0)


def masked_mean(value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum(mask * value) / sum(mask): the mean over real entries."""
    return (value * mask).sum() / mask.sum().clamp(min=1.0)


def taken_mean(agent_q: torch.Tensor, batch: EpisodeBatch) -> torch.Tensor:
    """Mean utility ``agent_q [B, T, A]`` of the taken actions over real steps of existing agents."""
    step_mask = batch.filled.float().unsqueeze(-1) * batch.agent_mask[:, :-1].float()   # [B, T, A]
    return masked_mean(agent_q.detach(), step_mask)


def greedy_actions(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Each agent's best available action: ``q [..., n]``, ``avail [..., n]`` bool → ``[...]`` long."""
    return q.masked_fill(~avail, -1e9).argmax(-1)


def take(q: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``q [..., n]`` at ``actions [...]`` → ``[...]``."""
    return q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


@dataclass
class EntityView:
    """What entity mixers read of a batch, for every step: entity inputs ``[B, T+1, E, d]`` and the
    entities each present agent's hyper-row attends to (every present entity) ``[B, T+1, A, E]``.
    Empty (no fields) for batches without the entity view."""

    entities: torch.Tensor | None = None
    attend: torch.Tensor | None = None

    def steps(self, first: int) -> dict[str, torch.Tensor]:
        """The fields for steps ``first .. first + T - 1`` (0: the steps valued, 1: the next steps)."""
        if self.entities is None:
            return {}
        T = self.entities.shape[1] - 1
        return {"entities": self.entities[:, first:first + T], "attend": self.attend[:, first:first + T]}


def entity_view(batch: EpisodeBatch) -> EntityView:
    """The batch's :class:`EntityView` (empty without the entity view)."""
    if batch.entities is None:
        return EntityView()
    attend = batch.agent_mask.unsqueeze(-1) & batch.entity_mask.unsqueeze(-2)      # [B, T+1, A, E]
    return EntityView(batch_entity_inputs(batch, batch.avail_actions.shape[-1]), attend)


def _split(out: Any) -> tuple[torch.Tensor, Any]:
    """A mixer's (Q_tot, aux) from what it returned: Q_tot alone, or Q_tot and its auxiliary output."""
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


class TDLearner:
    """Minimises (Q_tot(s,u) - y)^2 with y = r + gamma (1 - end) Q_tot^target(s', argmax ...), where
    ``end`` is the game's terminal, and also a time-out under ``time_limit="terminal"``.

    Without a mixer every agent learns its own utility from the team reward (independent Q-learning).
    ``extra`` networks (a central critic, a joint Q) train with the same optimiser and get target
    copies, except those named in ``own_optimiser``: the TD loss reads them (so a run group calls them
    with each run's parameters) but their own losses train them (MIPI's marginal policy);
    ``loss`` is the objective's module (:class:`TDLoss` or a subclass).
    """

    def __init__(self, controller: AgentController, mixer: nn.Module | None, settings: TDSettings,
                 extra: dict[str, nn.Module] | None = None,
                 loss: Callable[["TDLearner"], TDLoss] = TDLoss,
                 own_optimiser: frozenset[str] = frozenset()) -> None:
        self.controller, self.mixer, self.s = controller, mixer, settings
        self.online: dict[str, nn.Module] = {"controller": controller}
        if mixer is not None:
            self.online["mixer"] = mixer
        self.extra = dict(extra or {})
        self.online |= self.extra
        self.target = {name: copy.deepcopy(net).requires_grad_(False) for name, net in self.online.items()}
        self.target_controller, self.target_mixer = self.target["controller"], self.target.get("mixer")
        self.loss = loss(self)
        self.params = [p for name, net in self.online.items() if name not in own_optimiser for p in net.parameters()]
        if settings.optimizer == "adam":
            self.optimiser = torch.optim.Adam(self.params, lr=settings.lr, eps=settings.optim_eps)
        else:
            self.optimiser = torch.optim.RMSprop(self.params, lr=settings.lr, alpha=settings.optim_alpha,
                                                 eps=settings.optim_eps)
        self.last_target_update_episode = 0

    def not_done(self, batch: EpisodeBatch) -> torch.Tensor:
        """``[B, T]`` float: 0 after the steps that end the return (under the run's time-limit rule)."""
        return 1.0 - batch.end_of_return(self.s.time_limit).float()

    def td_terms(self, batch: EpisodeBatch, q: torch.Tensor | None = None) -> "TDTerms":
        """Q of the taken actions, TD targets y and the mask of real steps: ``[B, T]`` with a mixer
        (Q_tot), ``[B, T, A]`` without (each agent's Q); plus each agent's chosen Q ``[B, T, A]``.
        ``q``: the online utilities if the caller has unrolled them already. A mixer returning a tuple
        gives Q_tot first and the rest as ``mixer_aux`` (of the online call)."""
        actions = batch.actions.long()                                             # [B, T, A]
        q = self.controller.unroll(batch) if q is None else q                      # [B, T+1, A, n]
        chosen = take(q[:, :-1], actions)                                          # [B, T, A]
        with torch.no_grad():
            target_q = self.target_controller.unroll(batch)[:, 1:]                # [B, T, A, n]
            next_avail = batch.avail_actions[:, 1:]                                # [B, T, A, n]
            # double Q: the online net selects, the target net values; else the target net does both
            selector = q.detach()[:, 1:] if self.s.double_q else target_q
            best = greedy_actions(selector, next_avail)                            # [B, T, A]
            target_next = take(target_q, best)                                     # [B, T, A]
        agent_mask = batch.agent_mask.float()                                      # [B, T+1, A]
        reward = batch.reward                                                      # [B, T]
        not_done = self.not_done(batch)                                            # [B, T]
        if self.mixer is not None:
            view = entity_view(batch)
            chosen_tot, aux = _split(self.mix(self.mixer, MixerInput(                         # [B, T]
                chosen, batch.state[:, :-1], agent_mask[:, :-1], actions, q[:, :-1],
                greedy_actions(q.detach()[:, :-1], batch.avail_actions[:, :-1]), **view.steps(0))))
            with torch.no_grad():
                target_tot, _ = _split(self.mix(self.target_mixer, MixerInput(
                    target_next, batch.state[:, 1:], agent_mask[:, 1:], best, target_q,
                    greedy_actions(target_q, next_avail), **view.steps(1))))
            y = reward + self.s.gamma * not_done * target_tot                              # [B, T]
            return TDTerms(chosen_tot, y, batch.filled.float(), chosen, aux)
        y = reward.unsqueeze(-1) + self.s.gamma * not_done.unsqueeze(-1) * target_next      # [B, T, A]
        return TDTerms(chosen, y, batch.filled.float().unsqueeze(-1) * agent_mask[:, :-1], chosen)

    def mix(self, mixer: nn.Module, x: MixerInput) -> Any:
        """A mixer's output (Q_tot ``[B, T]``, or a tuple of ``[B, T, ...]`` tensors) evaluated on
        ``mixer_steps`` steps (zero-padded, then cut back): its weight gradients then sum over the same
        rows however long the sampled batch is, so a run alone and in a run group (whose batches are
        padded to the group's longest) get the same bits. The recurrent unroll needs no such care: it
        goes step by step."""
        T = x.agent_qs.shape[1]
        if self.s.mixer_steps > T:
            return tree_map(lambda out: out[:, :T], mixer(x.padded(self.s.mixer_steps)))
        return mixer(x)

    def update(self, batch: EpisodeBatch, episodes_seen: int,
               loss_args: tuple = ()) -> Generator[Call, Any, dict[str, float]]:
        """One gradient step on a sampled batch (a program: the loss is a :class:`Call`); returns scalar
        logs. Raises on a non-finite loss, before any parameter moves.

        Targets are copied when ``target_update_interval`` episodes have passed since the last copy."""
        self.optimiser.zero_grad()
        loss, stats = yield Call(self.loss, (batch.tensors(), *loss_args), grad=True, pad=True)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite TD loss ({loss.item()})")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.s.grad_norm_clip)
        self.optimiser.step()
        if (episodes_seen - self.last_target_update_episode) / self.s.target_update_interval >= 1.0:
            self.update_targets()
            self.last_target_update_episode = episodes_seen
        return {"loss": loss.item(), "grad_norm": float(grad_norm)} | {k: float(v) for k, v in stats.items()}

    def update_targets(self) -> None:
        for name, net in self.online.items():
            self.target[name].load_state_dict(net.state_dict())

    def state_dict(self) -> dict[str, Any]:
        state = {
            "controller": self.controller.state_dict(),
            "mixer": self.mixer.state_dict() if self.mixer is not None else None,
            "target_controller": self.target_controller.state_dict(),
            "target_mixer": self.target_mixer.state_dict() if self.mixer is not None else None,
            "optimiser": self.optimiser.state_dict(),
            "last_target_update_episode": self.last_target_update_episode,
        }
        if self.extra:
            state["extra"] = {name: net.state_dict() for name, net in self.extra.items()}
            state["target_extra"] = {name: self.target[name].state_dict() for name in self.extra}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.target_controller.load_state_dict(state["target_controller"])
        if self.mixer is not None:
            self.mixer.load_state_dict(state["mixer"])
            self.target_mixer.load_state_dict(state["target_mixer"])
        for name, net in self.extra.items():
            net.load_state_dict(state["extra"][name])
            self.target[name].load_state_dict(state["target_extra"][name])
        self.optimiser.load_state_dict(state["optimiser"])
        self.last_target_update_episode = state["last_target_update_episode"]
