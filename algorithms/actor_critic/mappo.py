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

from algorithms.base import Algorithm, AlgorithmConfig, Cadence, Capabilities, Protocol
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
        self.actor = AgentController(info.n_agents, info.obs_dim, info.n_actions, config.rnn_hidden_dim,
                                     last_action=False, agent_id=config.obs_agent_id,
                                     recurrent=config.recurrent).to(device)
        self.critic = CentralValue(info.state_dim, info.n_agents, config.critic_hidden_dim).to(device)
        self.value_norm = ValueNorm().to(device)
        self.actor_optimiser = torch.optim.Adam(self.actor.parameters(), lr=config.lr, eps=config.optim_eps)
        self.critic_optimiser = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr, eps=config.optim_eps)

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

    @torch.no_grad()
    def act(self, step: EnvStep, hidden: torch.Tensor, t_env: int, explore: bool, generator: torch.Generator):
        logits, hidden = self.actor(step.obs.to(self.device), None, hidden)       # [B, A, n]
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

    def _values(self, state: torch.Tensor) -> torch.Tensor:
        """Denormalised critic values ``[B, T, A]``."""
        v = self.critic(state)
        return self.value_norm.denormalise(v) if self.config.value_norm else v

    def train(self, t_env: int, episodes_seen: int, generator: torch.Generator) -> dict[str, float] | None:
        c, r = self.config, self.rollout
        obs, state = r.obs.to(self.device), r.state.to(self.device)               # [B, H+1, ...]
        avail, starts = r.avail_actions.to(self.device), r.starts.to(self.device)
        actions, old_logp = r.actions.to(self.device).long(), r.extras["logp"].to(self.device)  # [B, H, A]
        valid = r.valid.to(self.device)                                            # [B, H]
        active = active_agents(avail[:, :-1], r.agent_mask[:, :-1].to(self.device)) & valid[..., None]
        with torch.no_grad():
            values = self._values(state)                                           # [B, H+1, A]
            team_reward = r.reward.to(self.device)[..., None].expand_as(values[:, :-1])
            advantages, returns = gae(team_reward, values, r.end_of_return(self.protocol.time_limit).to(self.device),
                                      (r.terminated | r.truncated).to(self.device), valid, c.gamma, c.gae_lambda)
            old_v = self.critic(state[:, :-1])                                     # normalised, [B, H, A]
            if c.value_norm:
                self.value_norm.update(returns, active)
                targets = self.value_norm.normalise(returns)
            else:
                targets = returns
            if c.normalise_advantages:
                a = advantages[active]
                advantages = (advantages - a.mean()) / (a.std() + 1e-5) if a.numel() > 1 else advantages
        logs: dict[str, float] = {}
        for _ in range(c.epochs):
            logits = self.actor.unroll_steps(obs[:, :-1], starts[:, :-1], r.hidden.to(self.device))  # [B, H, A, n]
            dist = masked_categorical(logits, avail[:, :-1])
            policy_loss, clipped = clipped_surrogate(dist.log_prob(actions), old_logp, advantages, c.clip, active)
            entropy = masked_mean(dist.entropy(), active)
            actor_loss = policy_loss - c.entropy_coef * entropy
            value_loss = clipped_value_loss(self.critic(state[:, :-1]), old_v, targets, c.value_clip,
                                            c.huber_delta, active)
            if not (torch.isfinite(actor_loss) and torch.isfinite(value_loss)):
                raise FloatingPointError(f"non-finite MAPPO loss (actor {actor_loss.item()}, critic {value_loss.item()})")
            self.actor_optimiser.zero_grad()
            actor_loss.backward()
            actor_norm = torch.nn.utils.clip_grad_norm_(self.actor.parameters(), c.grad_norm_clip)
            self.actor_optimiser.step()
            self.critic_optimiser.zero_grad()
            (c.value_coef * value_loss).backward()
            critic_norm = torch.nn.utils.clip_grad_norm_(self.critic.parameters(), c.grad_norm_clip)
            self.critic_optimiser.step()
            logs = {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy.item(),
                    "clip_fraction": clipped.item(), "actor_grad_norm": float(actor_norm),
                    "critic_grad_norm": float(critic_norm)}
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
