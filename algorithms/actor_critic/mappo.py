"""MAPPO (Yu et al. 2022): PPO with a parameter-shared recurrent actor and a centralised critic V(s).

Each round collects a fixed horizon of steps from autoresetting environments. The critic's values
give GAE advantages (bootstrapped at the rollout's end, and at a time-out under time_limit
"bootstrap" from the real final observation); the actor is re-unrolled over the rollout from its
stored hidden state for ``epochs`` passes of the clipped surrogate

    L^π = −E[min(ρ_t A_t, clip(ρ_t, 1 − ε, 1 + ε) A_t)] − c_H H(π(·|τ_t)),   ρ_t = π(u_t|τ_t) / π_old(u_t|τ_t),

taken over active agents (alive, with a choice), and the critic fits the λ-returns with MAPPO's
clipped Huber loss on normalised targets (ValueNorm). Defaults follow MAPPO's SMAC settings
(lr 5e-4, Adam eps 1e-5, 5 epochs, one mini-batch, clip 0.2, γ 0.99, λ 0.95, entropy 0.01, Huber
δ 10, gradient clip 10, GRU of 64); the horizon is 400 steps per environment as MAPPO's episode
length, and docs/algorithms.md compares them with EPyMARL's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from algorithms.base import Algorithm, AlgorithmConfig, Cadence, Capabilities, Protocol
from algorithms.calls import Call, Program
from algorithms.components.agents import AgentController
from algorithms.components.critics import CentralValue
from algorithms.components.policies import active_agents, masked_categorical
from algorithms.components.ppo import ValueNorm, clipped_surrogate, clipped_value_loss, masked_mean
from algorithms.components.returns import gae
from algorithms.components.rollouts import StepBatch
from algorithms.registry import register
from harness.envs.base import EnvInfo, EnvStep


@dataclass(frozen=True)
class MAPPOConfig(AlgorithmConfig):
    horizon: int = 400                 # steps per environment per rollout
    epochs: int = 5                    # passes over each rollout
    lr: float = 5e-4
    critic_lr: float = 5e-4
    optim_eps: float = 1e-5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    value_clip: float = 0.2
    entropy_coef: float = 0.01
    value_coef: float = 1.0
    huber_delta: float = 10.0
    grad_norm_clip: float = 10.0
    rnn_hidden_dim: int = 64
    recurrent: bool = True             # GRU actor (MAPPO's rMAPPO); False: a feed-forward actor of the same width
    critic_hidden_dim: int = 128
    obs_agent_id: bool = True
    value_norm: bool = True
    normalise_advantages: bool = True

    def __post_init__(self) -> None:
        for key in ("horizon", "epochs", "rnn_hidden_dim", "critic_hidden_dim"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if not 0.0 <= self.gae_lambda <= 1.0 or not 0.0 <= self.gamma <= 1.0:
            raise ValueError("gamma and gae_lambda must lie in [0, 1]")


class PPOLoss(nn.Module):
    """The actor's clipped surrogate with its entropy bonus, plus ``value_coef`` times the critic's
    clipped value loss, over one rollout (the two share no parameters, so one backward gives each its
    own gradient)."""

    def __init__(self, actor: AgentController, critic: CentralValue, config: "MAPPOConfig") -> None:
        super().__init__()
        self.actor, self.critic, self.c = actor, critic, config

    def forward(self, d: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.c
        logits = self.actor.unroll_steps(*d["actor_in"], d["starts"], d["hidden"])  # [B, H, A, n]
        dist = masked_categorical(logits, d["avail"])
        policy_loss, clipped = clipped_surrogate(dist.log_prob(d["actions"]), d["old_logp"], d["advantages"],
                                                 c.clip, d["active"])
        entropy = masked_mean(dist.entropy(), d["active"])
        actor_loss = policy_loss - c.entropy_coef * entropy
        value_loss = clipped_value_loss(self.critic(*d["critic_in"]), d["old_v"], d["targets"], c.value_clip,
                                        c.huber_delta, d["active"])
        return actor_loss + c.value_coef * value_loss, {
            "actor_loss": actor_loss.detach(), "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
            "entropy": entropy.detach(), "clip_fraction": clipped.detach()}


@register
class MAPPO(Algorithm):
    """Shared recurrent actor π(u|τ) over available actions, centralised critic V(s, id), PPO updates."""

    name = "mappo"
    config_cls: ClassVar[type[AlgorithmConfig]] = MAPPOConfig
    capabilities: ClassVar[Capabilities] = Capabilities(discrete_actions=True, needs_state=True, off_policy=False)
    collection = "steps"

    def __init__(self, info: EnvInfo, config: MAPPOConfig, device: torch.device,
                 protocol: Protocol = Protocol()) -> None:
        super().__init__(info, config, device, protocol)
        self.actor = self.build_actor(info, config).to(device)
        self.critic = self.build_critic(info, config).to(device)
        self.value_norm = ValueNorm().to(device)
        self.actor_optimiser = torch.optim.Adam(self.actor.parameters(), lr=config.lr, eps=config.optim_eps)
        self.critic_optimiser = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr, eps=config.optim_eps)
        self.loss = PPOLoss(self.actor, self.critic, config)

    def build_actor(self, info: EnvInfo, config: MAPPOConfig) -> nn.Module:
        """π(u|τ): a controller with ``forward(*step inputs, hidden)`` and ``unroll_steps(*rollout inputs,
        starts, hidden)``."""
        return AgentController(info.n_agents, info.obs_dim, info.n_actions, config.rnn_hidden_dim,
                               last_action=False, agent_id=config.obs_agent_id, recurrent=config.recurrent)

    def build_critic(self, info: EnvInfo, config: MAPPOConfig) -> nn.Module:
        """V: per-agent values ``[..., A]`` from :meth:`critic_inputs`."""
        return CentralValue(info.state_dim, info.n_agents, config.critic_hidden_dim)

    def actor_step_inputs(self, step: EnvStep) -> tuple:
        """What the actor reads at one step, before the hidden state (no previous action)."""
        return (step.obs.to(self.device), None)

    def actor_inputs(self, r: StepBatch) -> tuple[torch.Tensor, ...]:
        """What the actor reads over a rollout, each ``[B, H+1, ...]``."""
        return (r.obs.to(self.device),)

    def critic_inputs(self, r: StepBatch) -> tuple[torch.Tensor, ...]:
        """What the critic reads over a rollout, each ``[B, H+1, ...]``: the global state."""
        return (r.state.to(self.device),)

    @property
    def horizon(self) -> int:
        return self.config.horizon

    @property
    def cadence(self) -> Cadence:
        return Cadence("round", 1)

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        return self.actor.init_hidden(batch_size, self.device)                    # [B, A, H]

    def reset_hidden(self, hidden: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        return hidden * (~starts.to(hidden.device)).float()[:, None, None]

    def act_program(self, step: EnvStep, hidden: torch.Tensor, t_env: int, explore: bool,
                    generator: torch.Generator) -> Program:
        logits, hidden = yield Call(self.actor, (*self.actor_step_inputs(step), hidden))   # [B, A, n]
        avail = step.avail_actions.to(self.device)
        if not explore:
            return logits.masked_fill(~avail, float("-inf")).argmax(-1), hidden
        probs = masked_categorical(logits, avail).probs                           # [B, A, n]
        actions = torch.multinomial(probs.flatten(0, 1).to(generator.device), 1, generator=generator)
        actions = actions.view(probs.shape[:2]).to(self.device)                   # [B, A]
        logp = torch.log(probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1).clamp(min=1e-30))
        return actions, hidden, {"logp": logp}

    def observe(self, rollout: StepBatch) -> None:
        self.rollout = rollout

    def train_program(self, t_env: int, episodes_seen: int, generator: torch.Generator) -> Program:
        c, r = self.config, self.rollout
        actor_in, critic_in = self.actor_inputs(r), self.critic_inputs(r)        # each [B, H+1, ...]
        avail, starts = r.avail_actions.to(self.device), r.starts.to(self.device)
        actions, old_logp = r.actions.to(self.device).long(), r.extras["logp"].to(self.device)  # [B, H, A]
        valid = r.valid.to(self.device)                                            # [B, H]
        active = active_agents(avail[:, :-1], r.agent_mask[:, :-1].to(self.device)) & valid[..., None]
        v = yield Call(self.critic, critic_in)                                     # normalised, [B, H+1, A]
        with torch.no_grad():
            values = self.value_norm.denormalise(v) if c.value_norm else v
            team_reward = r.reward.to(self.device)[..., None].expand_as(values[:, :-1])
            advantages, returns = gae(team_reward, values, r.end_of_return(self.protocol.time_limit).to(self.device),
                                      (r.terminated | r.truncated).to(self.device), valid, c.gamma, c.gae_lambda)
            old_v = v[:, :-1]
            if c.value_norm:
                self.value_norm.update(returns, active)
                targets = self.value_norm.normalise(returns)
            else:
                targets = returns
            if c.normalise_advantages:
                a = advantages[active]
                advantages = (advantages - a.mean()) / (a.std() + 1e-5) if a.numel() > 1 else advantages
        data = {"actor_in": tuple(x[:, :-1] for x in actor_in), "starts": starts[:, :-1], "hidden": r.hidden.to(self.device),
                "avail": avail[:, :-1], "actions": actions, "old_logp": old_logp, "advantages": advantages,
                "active": active, "critic_in": tuple(x[:, :-1] for x in critic_in), "old_v": old_v, "targets": targets}
        logs: dict[str, float] = {}
        for _ in range(c.epochs):
            self.actor_optimiser.zero_grad()
            self.critic_optimiser.zero_grad()
            _, stats = yield Call(self.loss, (data,), grad=True)
            if not (torch.isfinite(stats["actor_loss"]) and torch.isfinite(stats["value_loss"])):
                raise FloatingPointError(f"non-finite MAPPO loss (actor {stats['actor_loss'].item()}, "
                                         f"critic {stats['value_loss'].item()})")
            actor_norm = torch.nn.utils.clip_grad_norm_(self.actor.parameters(), c.grad_norm_clip)
            self.actor_optimiser.step()
            critic_norm = torch.nn.utils.clip_grad_norm_(self.critic.parameters(), c.grad_norm_clip)
            self.critic_optimiser.step()
            logs = {"policy_loss": stats["policy_loss"].item(), "value_loss": stats["value_loss"].item(),
                    "entropy": stats["entropy"].item(), "clip_fraction": stats["clip_fraction"].item(),
                    "actor_grad_norm": float(actor_norm), "critic_grad_norm": float(critic_norm)}
        self.rollout = None
        return logs

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "value_norm": self.value_norm.state_dict(), "actor_optimiser": self.actor_optimiser.state_dict(),
                "critic_optimiser": self.critic_optimiser.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.value_norm.load_state_dict(state["value_norm"])
        self.actor_optimiser.load_state_dict(state["actor_optimiser"])
        self.critic_optimiser.load_state_dict(state["critic_optimiser"])
