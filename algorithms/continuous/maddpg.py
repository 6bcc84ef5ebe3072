"""MADDPG (Lowe et al. 2017): deterministic actors μ_i(o_i) trained through centralised critics Q_i(s, u).

Each step of every environment goes to a transition replay. An update samples a batch and fits

    Q_i(s, u_1..u_n) → y_i = r + γ (1 − end) Q'_i(s', μ'_1(o'_1), ..., μ'_n(o'_n)),

then moves each actor up its critic's gradient with the other agents' actions from the replay,
∇_θ E[Q_i(s, u_1, .., μ_i(o_i), .., u_n)], and Polyak-averages the targets (τ). Continuous actions
are tanh-bounded and explored with Gaussian noise; discrete actions are relaxed with straight-through
Gumbel-softmax (the discrete variant of MADDPG's paper) and explored by Gumbel sampling. Actors and
critics share parameters across agents, with the agent's one-hot id as input. Defaults follow the
paper (2 x 64 ReLU layers, γ 0.95, τ 0.01, batch 1024, gradient clip 0.5) except the learning rate
(1e-3 for both, where the paper's 1e-2 is for its particle tasks) and one update per env step.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.base import Algorithm, AlgorithmConfig, Cadence, Capabilities, Protocol
from algorithms.calls import Call, Program
from algorithms.components.actors import DeterministicActor
from algorithms.components.critics import JointActionCritic
from algorithms.components.policies import gumbel_noise, gumbel_softmax
from algorithms.components.replay import EpisodeBatch, EpisodeReplay, index_dtype
from algorithms.components.rollouts import StepBatch
from algorithms.components.targets import soft_update
from algorithms.registry import register
from harness.envs.base import EnvInfo, EnvStep


@dataclass(frozen=True)
class MADDPGConfig(AlgorithmConfig):
    buffer_size: int = 100_000        # transitions
    batch_size: int = 1024            # transitions per update
    warmup: int = 1024                # transitions stored before the first update
    update_every: int = 1             # env steps per update
    lr: float = 1e-3                  # actors
    critic_lr: float = 1e-3
    gamma: float = 0.95
    tau: float = 0.01
    grad_norm_clip: float = 0.5
    hidden_dim: int = 64
    noise_scale: float = 0.1          # exploration noise std, as a fraction of the action range's half-width
    gumbel_tau: float = 1.0           # temperature of the Gumbel-softmax relaxation (discrete actions)
    logit_penalty: float = 1e-3       # MADDPG's regulariser of discrete actors' logits

    def __post_init__(self) -> None:
        for key in ("buffer_size", "batch_size", "update_every", "hidden_dim"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"tau must lie in (0, 1], got {self.tau}")


class _Objective(nn.Module):
    """One of MADDPG's evaluations as a module over the networks it reads (its children), called with
    the sampled transitions' tensors (and what the update added: targets ``y``, Gumbel ``noise``)."""

    def __init__(self, fn: Callable[[EpisodeBatch, dict], Any], **networks: nn.Module) -> None:
        super().__init__()
        for name, net in networks.items():
            self.add_module(name, net)
        self.fn = fn

    def forward(self, data: dict[str, torch.Tensor]):
        batch = EpisodeBatch(**{k: v for k, v in data.items() if k in _BATCH_FIELDS})
        return self.fn(batch, data)


_BATCH_FIELDS = {f.name for f in fields(EpisodeBatch)}


@register
class MADDPG(Algorithm):
    """Parameter-shared deterministic actors and centralised joint-action critics with soft targets."""

    name = "maddpg"
    config_cls: ClassVar[type[AlgorithmConfig]] = MADDPGConfig
    capabilities: ClassVar[Capabilities] = Capabilities(discrete_actions=True, continuous_actions=True,
                                                        needs_state=True, off_policy=True)
    collection = "steps"

    def __init__(self, info: EnvInfo, config: MADDPGConfig, device: torch.device,
                 protocol: Protocol = Protocol()) -> None:
        super().__init__(info, config, device, protocol)
        self.continuous = info.continuous_actions
        self.act_dim = info.action_dim if self.continuous else info.n_actions   # d: the critic's per-agent input
        bounds = (info.action_low, info.action_high) if self.continuous else None
        self.actor = DeterministicActor(info.obs_dim, info.n_agents, self.act_dim, config.hidden_dim, bounds).to(device)
        self.critic = JointActionCritic(info.state_dim, info.n_agents, self.act_dim, config.hidden_dim).to(device)
        self.target_actor, self.target_critic = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        for target in (self.target_actor, self.target_critic):
            target.requires_grad_(False)
        self.actor_optimiser = torch.optim.Adam(self.actor.parameters(), lr=config.lr)
        self.critic_optimiser = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        stored = {} if self.continuous else {"actions": index_dtype(info.n_actions)}
        self.replay = EpisodeReplay(config.buffer_size, 1, torch.device("cpu"), stored, with_replacement=True)
        # the three evaluations of an update, as modules a run group calls for all its runs at once
        self.bootstrap = _Objective(lambda b, d: self.target_values(b), target_actor=self.target_actor,
                                    target_critic=self.target_critic)
        self.critic_fit = _Objective(lambda b, d: self.critic_objective(b, d["y"]), critic=self.critic)
        self.actor_ascent = _Objective(lambda b, d: (self.actor_objective(b, d.get("noise")), {}),
                                       actor=self.actor, critic=self.critic)

    @property
    def cadence(self) -> Cadence:
        return Cadence("env_step", self.config.update_every)

    def storages(self) -> dict[str, EpisodeReplay]:
        return {"replay": self.replay}

    def init_hidden(self, batch_size: int) -> None:
        return None

    # -- acting --------------------------------------------------------------------------------
    def act_program(self, step: EnvStep, hidden: None, t_env: int, explore: bool,
                    generator: torch.Generator) -> Program:
        out = yield Call(self.actor, (step.obs.to(self.device),))                # [B, A, d]
        if self.continuous:
            if explore:
                half = (self.info.action_high - self.info.action_low) / 2.0
                noise = torch.randn(out.shape, generator=generator, device=generator.device).to(self.device)
                out = (out + self.config.noise_scale * half * noise).clamp(self.info.action_low,
                                                                           self.info.action_high)
            return out, None                                                      # [B, A, d] float
        avail = step.avail_actions.to(self.device)
        if explore:
            return gumbel_softmax(out, avail, self.config.gumbel_tau, generator).argmax(-1), None
        return out.masked_fill(~avail, float("-inf")).argmax(-1), None            # [B, A] long

    # -- storage ---------------------------------------------------------------------------------
    def observe(self, rollout: StepBatch) -> None:
        """Every real transition of the rollout's steps, as one-step episodes (obs t and t+1)."""
        for t in range(rollout.horizon):
            keep = rollout.valid[:, t]
            if not bool(keep.any()):
                continue
            pair = lambda x: x[:, t:t + 2][keep]  # noqa: E731  [b, 2, ...]
            one = lambda x: x[:, t:t + 1][keep]   # noqa: E731  [b, 1, ...]
            self.replay.insert(EpisodeBatch(
                obs=pair(rollout.obs), state=pair(rollout.state), avail_actions=pair(rollout.avail_actions),
                agent_mask=pair(rollout.agent_mask), actions=one(rollout.actions), reward=one(rollout.reward),
                terminated=one(rollout.terminated), truncated=one(rollout.truncated),
                filled=torch.ones_like(one(rollout.reward), dtype=torch.bool)))

    # -- learning --------------------------------------------------------------------------------
    def _encode(self, actions: torch.Tensor) -> torch.Tensor:
        """Stored actions as critic inputs ``[N, A, d]``: scaled to [-1, 1], or one-hot."""
        if self.continuous:
            low, high = self.info.action_low, self.info.action_high
            return (actions - (low + high) / 2.0) / ((high - low) / 2.0)
        return F.one_hot(actions.long(), self.info.n_actions).float()

    def _policy_actions(self, actor: DeterministicActor, obs: torch.Tensor, avail: torch.Tensor,
                        noise: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor's actions as critic inputs ``[N, A, d]`` (differentiable), and its raw outputs;
        discrete actions are Gumbel-softmax samples with ``noise`` (None: the relaxed greedy action)."""
        out = actor(obs)
        if self.continuous:
            return self._encode(out), out
        return gumbel_softmax(out, avail, self.config.gumbel_tau, noise=noise), out

    @staticmethod
    def _per_agent(own: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
        """Joint actions ``[N, A, A, d]``: row i holds ``others`` with agent i's action from ``own``."""
        N, A, d = own.shape
        eye = torch.eye(A, dtype=torch.bool, device=own.device)[None, :, :, None]
        return torch.where(eye, own[:, None].expand(N, A, A, d), others[:, None].expand(N, A, A, d))

    def train_program(self, t_env: int, episodes_seen: int, generator: torch.Generator) -> Program:
        c = self.config
        if self.replay.inserted < max(c.warmup, c.batch_size):
            return None
        data = self.replay.sample(c.batch_size, generator).to(self.device).tensors()
        data["y"] = yield Call(self.bootstrap, (data,))                              # [N, A]
        self.critic_optimiser.zero_grad()
        critic_loss, stats = yield Call(self.critic_fit, (data,), grad=True)
        if not torch.isfinite(critic_loss):
            raise FloatingPointError(f"non-finite MADDPG critic loss ({critic_loss.item()})")
        critic_norm = torch.nn.utils.clip_grad_norm_(self.critic.parameters(), c.grad_norm_clip)
        self.critic_optimiser.step()
        if not self.continuous:   # drawn here, from this run's stream, not inside the call
            data["noise"] = gumbel_noise(data["avail_actions"][:, 0].shape, generator, self.device)
        self.actor_optimiser.zero_grad()
        actor_loss, _ = yield Call(self.actor_ascent, (data,), grad=True)
        if not torch.isfinite(actor_loss):
            raise FloatingPointError(f"non-finite MADDPG actor loss ({actor_loss.item()})")
        # the actor's loss reached the critic's parameters too; their gradient is cleared before the next use
        actor_norm = torch.nn.utils.clip_grad_norm_(self.actor.parameters(), c.grad_norm_clip)
        self.actor_optimiser.step()
        soft_update(self.target_actor, self.actor, c.tau)
        soft_update(self.target_critic, self.critic, c.tau)
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(), "q_mean": float(stats["q_mean"]),
                "critic_grad_norm": float(critic_norm), "actor_grad_norm": float(actor_norm)}

    def critic_objective(self, b: EpisodeBatch, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Masked mean of (Q_i(s, u) − y_i)^2 over the replayed joint actions u."""
        mask = b.agent_mask[:, 0].float()                                          # [N, A]
        taken = self._encode(b.actions[:, 0])                                      # [N, A, d]
        q = self.critic(b.state[:, 0], taken[:, None].expand(-1, self.info.n_agents, -1, -1))
        return (((q - y) ** 2) * mask).sum() / mask.sum().clamp(min=1.0), {"q_mean": q.detach().mean()}

    def actor_objective(self, b: EpisodeBatch, noise: torch.Tensor | None) -> torch.Tensor:
        """−Q_i(s, u_1, .., μ_i(o_i), .., u_n) averaged over agents, plus the logit penalty (discrete)."""
        mask = b.agent_mask[:, 0].float()
        taken = self._encode(b.actions[:, 0])
        own, raw = self._policy_actions(self.actor, b.obs[:, 0], b.avail_actions[:, 0], noise)
        loss = -(self.critic(b.state[:, 0], self._per_agent(own, taken)) * mask).sum() / mask.sum().clamp(min=1.0)
        return loss + self.config.logit_penalty * (raw ** 2).mean() if not self.continuous else loss

    def target_values(self, batch: EpisodeBatch) -> torch.Tensor:
        """The critic targets y ``[N, A]`` of a batch of one-step episodes (transitions)."""
        A = self.info.n_agents
        with torch.no_grad():
            u2, _ = self._policy_actions(self.target_actor, batch.obs[:, 1], batch.avail_actions[:, 1], None)
            if not self.continuous:
                u2 = F.one_hot(u2.argmax(-1), self.info.n_actions).float()
            q2 = self.target_critic(batch.state[:, 1], u2[:, None].expand(-1, A, -1, -1))
            not_end = 1.0 - batch.end_of_return(self.protocol.time_limit)[:, 0].float()[:, None]
            return batch.reward[:, 0, None] + self.config.gamma * not_end * q2

    def state_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).state_dict() for k in ("actor", "critic", "target_actor", "target_critic",
                                                            "actor_optimiser", "critic_optimiser")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            getattr(self, k).load_state_dict(v)
