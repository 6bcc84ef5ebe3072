"""MIPI: mutual-information regularised multi-agent policy iteration, for teams whose composition
changes. Each agent i has a utility Q_i(s, u_i; θ_i), a policy π_i(u_i|s; φ_i) and a marginal policy
π_i(u_i|s_i^+; ω_i) that reads only the agent's own, team-unrelated features s_i^+ (its own entity,
``EnvInfo.own_features`` of it). The reward is augmented with −α Σ_i log π_i(u_i|s)/π_i(u_i|s_i^+), the
mutual information between each agent's action and the team-related information s_i^-, so policies
lean less on the team they were trained with.

Joint policy evaluation (eq. 14-16): Q_jt = Σ_i w_i(s) Q_i + b(s) with w_i ≥ 0 (a linear mixer with
attention hyper-networks) regresses to

    y = r + γ (E_{u'~π}[Q̂_jt(s', u')] − α Σ_i E_{u'_i~π_i}[log π_i(u'_i|s') / π_i(u'_i|s'^+)]),

the expectation over u' taken exactly rather than with the paper's one sample (the mixer is linear, so
E_π[Q̂_jt] is the target mixer of the agents' E_{π_i}[Q̂_i]); plus REFIL's imagined objective (λ) on
random sub-group partitions, as the paper keeps it. Constrained policy improvement is M Blahut–Arimoto
iterations, each
- the marginal by maximum likelihood on imaginary compositions (eq. 17):
  −Σ_u π_i(u|s_i^+, s_i^*) log π_i(u|s_i^+; ω), s_i^* the agent's view cut to its group of REFIL's
  random partition (drawn per update);
- the policy (eq. 18): Σ_u π_i(u|s) (α log π_i(u|s) − α log π_i(u|s_i^+) − Q_i(s, u)).
The policy is a last layer beside the utilities' on the agent's recurrent features (the paper's policy
shares every layer with the critic but the last); only the TD loss trains the shared layers, the policy
loss trains the last layer. Agents act by sampling their policy, and greedily (arg max π) in evaluation.

Variants (MIPI Tables 2 and 3): ``regulariser: mi`` (MIPI), ``none`` (Value, α = 0), ``entropy``
(Entropy: α log π_i(u|s) in place of the MI term); the α sweep is the ``alpha`` override; ``removed``
is Table 3's "α = ∞", team-related information removed from the policy (which the paper says differs
from setting α to ∞ in MIPI): agents act on π_i(u|s_i^+), the marginal network itself, which eq. 18
improves on the utilities with its MI term identically zero (a policy is its own marginal), while
the utilities and the mixer still read everything (centralised training). Defaults are
MIPI's SMAC settings (α 0.03 on SZ and CSZ; the paper uses 0.1 on MMM; 4 BA iterations; lr 5e-4; target
update every 200 episodes) over REFIL's networks and learner.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.base import Protocol
from algorithms.calls import Call, Program
from algorithms.components.entities import EntityAgent, EntityController, batch_entity_inputs, with_last_actions
from algorithms.components.layers import GRUCell, Linear
from algorithms.components.learners import TDTerms, entity_view, greedy_actions, masked_mean, take
from algorithms.components.mixers import EntityLinearMixer, MixerInput
from algorithms.components.policies import active_agents, gumbel_noise
from algorithms.components.replay import EpisodeBatch
from algorithms.registry import register
from algorithms.value.refil import REFILConfig, REFILLoss, draw_groups, imagined_masks
from algorithms.value.attention import EntityValueBased

REGULARISERS = ("mi", "entropy", "none", "removed")


@dataclass(frozen=True)
class MIPIConfig(REFILConfig):
    alpha: float = 0.03                   # temperature of the MI (or entropy) term
    ba_iterations: int = 4                # Blahut–Arimoto iterations per update (paper: 4 SMAC, 1 matrix game)
    regulariser: str = "mi"               # "mi" (MIPI), "entropy" (Entropy), "none" (Value, α = 0),
                                          # "removed" (α = ∞: agents act on their own features only)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.regulariser not in REGULARISERS:
            raise ValueError(f"regulariser must be one of {', '.join(REGULARISERS)}, got {self.regulariser!r}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if self.ba_iterations < 1:
            raise ValueError(f"ba_iterations must be at least 1, got {self.ba_iterations}")


def masked_log_softmax(logits: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """log π over the available actions (``[..., n]``; unavailable ones get a large negative, not −∞)."""
    return logits.masked_fill(~avail, -1e10).log_softmax(dim=-1)


class MIPIAgent(EntityAgent):
    """REFIL's agent with a policy layer beside the utilities' on the GRU's output (read detached: the
    policy loss trains this layer only). Returns utilities, the next hidden state and
    ``{"logits": π's logits, "h": the hidden state}``."""

    def __init__(self, input_dim: int, n_actions: int, embed_dim: int = 128, heads: int = 4,
                 hidden_dim: int = 64) -> None:
        super().__init__(input_dim, n_actions, embed_dim, heads, hidden_dim)
        self.policy = Linear(hidden_dim, n_actions)

    def forward(self, entities, allowed, hidden):
        q, h = super().forward(entities, allowed, hidden)                          # [N, A, n], [N, A, H]
        return q, h, {"logits": self.policy(h.detach()), "h": h}


class MIPIController(EntityController):
    """The entity controller whose one-step call gives the policy's logits (agents act on π)."""

    def forward(self, entities, obs_mask, last_actions, hidden):
        inputs = with_last_actions(entities, last_actions, self.n_agents, self.n_actions)
        _, h, aux = self.agent(inputs, obs_mask, hidden)
        return aux["logits"], h                                                    # [B, A, n], [B, A, H]


class MarginalPolicy(nn.Module):
    """π_i(u|s_i^+; ω): linear → ReLU → GRU → linear over the agent's own team-unrelated entity features
    and its previous action (no other entity enters)."""

    def __init__(self, n_agents: int, n_actions: int, own_features: tuple[int, ...], hidden_dim: int) -> None:
        super().__init__()
        self.n_agents, self.n_actions, self.hidden_dim = n_agents, n_actions, hidden_dim
        self.own_features = tuple(own_features)
        self.fc1 = Linear(len(self.own_features) + n_actions, hidden_dim)
        self.rnn = GRUCell(hidden_dim, hidden_dim)
        self.fc2 = Linear(hidden_dim, n_actions)

    def own(self, inputs: torch.Tensor) -> torch.Tensor:
        """The agents' own rows of entity inputs ``[..., E, d + n]`` → ``[..., A, own + n]``."""
        columns = list(self.own_features) + list(range(inputs.shape[-1] - self.n_actions, inputs.shape[-1]))
        return inputs[..., :self.n_agents, columns]

    def init_hidden(self, batch_size: int, device: torch.device) -> torch.Tensor:
        return torch.zeros(batch_size, self.n_agents, self.hidden_dim, device=device)   # [B, A, H]

    def forward(self, entities: torch.Tensor, last_actions: torch.Tensor | None,
                hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One acting step from the entity view ``entities [B, E, d]`` (the α = ∞ variant acts on it)."""
        return self.step(self.own(with_last_actions(entities, last_actions, self.n_agents, self.n_actions)), hidden)

    def step(self, own: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``own [N, A, own + n]``, ``hidden [N, A, H]`` → logits ``[N, A, n]`` and the next hidden state."""
        N, A, _ = own.shape
        h = self.rnn(F.relu(self.fc1(own)).reshape(N * A, -1), hidden.reshape(N * A, -1))  # [NA, H]
        return self.fc2(h).view(N, A, -1), h.view(N, A, -1)

    def unroll(self, batch: EpisodeBatch) -> torch.Tensor:
        """The marginal's logits at every step of a batch ``[B, T+1, A, n]``."""
        own = self.own(batch_entity_inputs(batch, self.n_actions))                 # [B, T+1, A, own + n]
        hidden = self.init_hidden(batch.batch_size, batch.entities.device)
        outs = []
        for t in range(batch.max_t + 1):
            logits, hidden = self.step(own[:, t], hidden)
            outs.append(logits)
        return torch.stack(outs, dim=1)


def per_step(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer`` applied to ``x [B, T, ...]`` one step at a time: its weight gradient then sums the same
    rows in the same order whatever padding a run group adds after the last step (exact grouping)."""
    return torch.stack([layer(x[:, t]) for t in range(x.shape[1])], dim=1)


def regulariser_terms(kind: str, log_pi: torch.Tensor, log_marginal: torch.Tensor | None) -> torch.Tensor:
    """The per-action term the temperature α weighs ``[..., n]``: log π/π^+ (MI), log π (entropy) or 0
    (Value, and α = ∞, whose policy is its marginal)."""
    if kind == "mi":
        return log_pi - log_marginal
    if kind == "entropy":
        return log_pi
    return torch.zeros_like(log_pi)


def policy_step_mask(batch: EpisodeBatch) -> torch.Tensor:
    """``[B, T, A]`` float: the step happened and the agent exists with a choice to make."""
    return batch.filled.float().unsqueeze(-1) * active_agents(batch.avail_actions[:, :-1],
                                                             batch.agent_mask[:, :-1]).float()


class MIPILoss(REFILLoss):
    """Eq. 16's soft TD loss on the real Q_jt and REFIL's imagined one, both to the same target y."""

    def __init__(self, learner, lmbda: float, alpha: float, regulariser: str) -> None:
        super().__init__(learner, lmbda)
        self.alpha, self.regulariser = alpha, regulariser

    def td_terms(self, batch: EpisodeBatch) -> TDTerms:
        learner = self.learner[0]
        controller, marginal = self.online["controller"], self.online["marginal"]
        actions = batch.actions.long()                                             # [B, T, A]
        q, aux = controller.unroll(batch, with_aux=True)                           # [B, T+1, A, n]
        chosen = take(q[:, :-1], actions)                                          # [B, T, A]
        agent_mask = batch.agent_mask.float()                                      # [B, T+1, A]
        view = entity_view(batch)
        with torch.no_grad():
            target_q = self.target["controller"].unroll(batch)[:, 1:]             # [B, T, A, n]
            next_avail = batch.avail_actions[:, 1:]                                # [B, T, A, n]
            logits = marginal.unroll(batch) if self.regulariser == "removed" else aux["logits"].detach()
            log_pi = masked_log_softmax(logits[:, 1:], next_avail)                 # [B, T, A, n] π(·|s')
            pi = log_pi.exp()
            log_m = masked_log_softmax(marginal.unroll(batch)[:, 1:], next_avail) if self.regulariser == "mi" else None
            penalty = (pi * regulariser_terms(self.regulariser, log_pi, log_m)).sum(-1)   # [B, T, A]
            expected = (pi * target_q).sum(-1)                                     # [B, T, A] E_π Q̂_i
            target_jt = learner.mix(self.target["mixer"], MixerInput(
                expected, batch.state[:, 1:], agent_mask[:, 1:], None, target_q,
                greedy_actions(target_q, next_avail), **view.steps(1)))            # [B, T]
            soft = target_jt - self.alpha * (penalty * agent_mask[:, 1:]).sum(-1)  # [B, T]
            y = batch.reward + learner.s.gamma * learner.not_done(batch) * soft    # [B, T]
        chosen_jt = learner.mix(self.online["mixer"], MixerInput(
            chosen, batch.state[:, :-1], agent_mask[:, :-1], actions, q[:, :-1],
            greedy_actions(q.detach()[:, :-1], batch.avail_actions[:, :-1]), **view.steps(0)))   # [B, T]
        return TDTerms(chosen_jt, y, batch.filled.float(), chosen)


class PolicyFeatures(nn.Module):
    """What the Blahut–Arimoto iterations read, computed once per update (no gradient): the agents'
    utilities and recurrent features on the real views, and their features on the imagined ones (each
    agent's view cut to its group)."""

    def __init__(self, controller: MIPIController) -> None:
        super().__init__()
        self.controller = controller

    def forward(self, data: dict[str, torch.Tensor], groups: torch.Tensor):
        batch = EpisodeBatch(**data)
        q, aux = self.controller.unroll(batch, with_aux=True)                      # [B, T+1, A, n]
        within = imagined_masks(groups, batch)[0][:, :, 0]                         # [B, T+1, A, E]
        _, imagined = self.controller.unroll(batch, within, with_aux=True)
        return q, aux["h"], imagined["h"]                                          # + [B, T+1, A, H] twice


class MarginalLoss(nn.Module):
    """Eq. 17: the marginal's negative log-likelihood of the policy's actions on imagined views,
    −Σ_u π(u|s^+, s^*) log π(u|s^+; ω), the expectation over u taken exactly."""

    def __init__(self, head: nn.Module, marginal: MarginalPolicy) -> None:
        super().__init__()
        self.head, self.marginal = head, marginal

    def forward(self, data: dict[str, torch.Tensor], h_imagined: torch.Tensor):
        batch = EpisodeBatch(**data)
        avail = batch.avail_actions[:, :-1]                                        # [B, T, A, n]
        target = masked_log_softmax(per_step(self.head, h_imagined[:, :-1]), avail).exp().detach()  # [B, T, A, n]
        log_m = masked_log_softmax(self.marginal.unroll(batch)[:, :-1], avail)     # [B, T, A, n]
        nll = -(target * log_m).sum(-1)                                            # [B, T, A]
        return masked_mean(nll, policy_step_mask(batch)), {}


class PolicyLoss(nn.Module):
    """Eq. 18: Σ_u π(u|s) (α log π(u|s) − α log π(u|s^+) − Q_i(s, u)) on the real views (the marginal and
    the utilities fixed), the expectation over u taken exactly."""

    def __init__(self, head: nn.Module, marginal: MarginalPolicy, alpha: float, regulariser: str) -> None:
        super().__init__()
        self.head, self.marginal = head, marginal
        self.alpha, self.regulariser = alpha, regulariser

    def forward(self, data: dict[str, torch.Tensor], q: torch.Tensor, h: torch.Tensor):
        batch = EpisodeBatch(**data)
        avail = batch.avail_actions[:, :-1]                                        # [B, T, A, n]
        log_pi = masked_log_softmax(per_step(self.head, h[:, :-1]), avail)         # [B, T, A, n]
        pi = log_pi.exp()
        log_m = None
        if self.regulariser == "mi":
            with torch.no_grad():
                log_m = masked_log_softmax(self.marginal.unroll(batch)[:, :-1], avail)
        utilities = q[:, :-1].masked_fill(~avail, 0.0)                             # [B, T, A, n]
        term = self.alpha * regulariser_terms(self.regulariser, log_pi, log_m) - utilities
        mask = policy_step_mask(batch)                                             # [B, T, A]
        stats = {"policy_entropy": masked_mean(-(pi * log_pi).sum(-1).detach(), mask)}
        if log_m is not None:
            stats["mutual_information"] = masked_mean((pi * (log_pi - log_m)).sum(-1).detach(), mask)
        return masked_mean((pi * term).sum(-1), mask), stats


class OwnPolicyLoss(nn.Module):
    """Eq. 18 for the α = ∞ variant: Σ_u π(u|s^+) (−Q_i(s, u)) on the real views, π the marginal network
    (the utilities fixed; the MI term is zero, π being its own marginal)."""

    def __init__(self, marginal: MarginalPolicy) -> None:
        super().__init__()
        self.marginal = marginal

    def forward(self, data: dict[str, torch.Tensor], q: torch.Tensor):
        batch = EpisodeBatch(**data)
        avail = batch.avail_actions[:, :-1]                                        # [B, T, A, n]
        log_pi = masked_log_softmax(self.marginal.unroll(batch)[:, :-1], avail)   # [B, T, A, n]
        pi = log_pi.exp()
        utilities = q[:, :-1].masked_fill(~avail, 0.0)                             # [B, T, A, n]
        mask = policy_step_mask(batch)                                             # [B, T, A]
        stats = {"policy_entropy": masked_mean(-(pi * log_pi).sum(-1).detach(), mask)}
        return masked_mean(-(pi * utilities).sum(-1), mask), stats


@register
class MIPI(EntityValueBased):
    """MIPI over REFIL's entity agents: soft TD evaluation, then Blahut–Arimoto policy improvement."""

    name = "mipi"
    config_cls = MIPIConfig
    own_optimiser = frozenset({"marginal"})

    def build_controller(self, info, config: MIPIConfig):
        agent = MIPIAgent(info.entity_dim + info.n_actions, info.n_actions, config.attn_embed_dim,
                          config.attn_heads, config.rnn_hidden_dim)
        return MIPIController(info.n_agents, info.n_actions, agent)

    def build_mixer(self, info, config: MIPIConfig):
        return EntityLinearMixer(info.entity_dim + info.n_actions, config.hypernet_embed, config.attn_heads)

    def build_extra(self, info, config: MIPIConfig):
        own = info.own_features if info.own_features is not None else tuple(range(info.entity_dim))
        return {"marginal": MarginalPolicy(info.n_agents, info.n_actions, own, config.rnn_hidden_dim)}

    def build_loss(self, config: MIPIConfig):
        return partial(MIPILoss, lmbda=config.lmbda, alpha=self.alpha(config), regulariser=config.regulariser)

    @staticmethod
    def alpha(config: MIPIConfig) -> float:
        return 0.0 if config.regulariser in ("none", "removed") else config.alpha

    def loss_args(self, batch, generator):
        return (draw_groups(batch.batch_size, batch.entities.shape[2], generator),)

    def __init__(self, info, config: MIPIConfig, device, protocol: Protocol = Protocol()) -> None:
        self.removed = config.regulariser == "removed"
        super().__init__(info, config, device, protocol)
        self.marginal = self.learner.online["marginal"]
        head = self.controller.agent.policy
        self.features = PolicyFeatures(self.controller)
        self.marginal_loss = MarginalLoss(head, self.marginal)
        self.policy_loss = PolicyLoss(head, self.marginal, self.alpha(config), config.regulariser)
        self.own_policy_loss = OwnPolicyLoss(self.marginal)
        self.marginal_optimiser = self._optimiser(self.marginal.parameters())
        self.policy_optimiser = self._optimiser(head.parameters())

    def _optimiser(self, params) -> torch.optim.Optimizer:
        c = self.config
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, eps=c.optim_eps)
        return torch.optim.RMSprop(params, lr=c.lr, alpha=c.optim_alpha, eps=c.optim_eps)

    def init_hidden(self, batch_size: int):
        if self.removed:   # agents act on the marginal network: its recurrent state
            return {"h": self.marginal.init_hidden(batch_size, self.device), "last": None}
        return super().init_hidden(batch_size)

    def act_program(self, step, hidden, t_env, explore, generator) -> Program:
        if self.removed:
            logits, h = yield Call(self.marginal, (step.entities.to(self.device), hidden["last"], hidden["h"]))
        else:
            inputs = (step.entities.to(self.device), step.obs_mask.to(self.device))
            logits, h = yield Call(self.controller, (*inputs, hidden["last"], hidden["h"]))   # [B, A, n]
        logits = logits.masked_fill(~step.avail_actions.to(self.device), -1e10)
        if explore:   # a sample of π (Gumbel-max with the run's generator)
            logits = logits + gumbel_noise(logits.shape, generator, self.device)
        actions = logits.argmax(-1)                                                # [B, A]
        return actions, {"h": h, "last": actions}

    def _step(self, optimiser: torch.optim.Optimizer, params, loss: torch.Tensor) -> float:
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite MIPI policy loss ({loss.item()})")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.grad_norm_clip)
        optimiser.step()
        return float(grad_norm)

    def train_program(self, t_env, episodes_seen, generator) -> Program:
        if not self.replay.can_sample(self.config.batch_size):
            return None
        batch = self.replay.sample(self.config.batch_size, generator).to(self.device)
        groups = self.loss_args(batch, generator)[0]
        logs = yield from self.learner.update(batch, episodes_seen, (groups,))
        data = batch.tensors()
        q, h, h_imagined = yield Call(self.features, (data, groups), pad=True)
        if self.removed:
            return logs | (yield from self._improve_own_policy(data, q))
        for _ in range(self.config.ba_iterations):
            self.marginal_optimiser.zero_grad()
            loss, _ = yield Call(self.marginal_loss, (data, h_imagined), grad=True, pad=True)
            self._step(self.marginal_optimiser, self.marginal.parameters(), loss)
            logs["marginal_nll"] = float(loss)
            self.policy_optimiser.zero_grad()
            loss, stats = yield Call(self.policy_loss, (data, q, h), grad=True, pad=True)
            self._step(self.policy_optimiser, self.controller.agent.policy.parameters(), loss)
            logs["policy_loss"] = float(loss)
        return logs | {k: float(v) for k, v in stats.items()}

    def _improve_own_policy(self, data, q) -> Program:
        """The α = ∞ variant's policy improvement: eq. 18 on the marginal network, ``ba_iterations`` steps."""
        logs: dict[str, float] = {}
        for _ in range(self.config.ba_iterations):
            self.marginal_optimiser.zero_grad()
            loss, stats = yield Call(self.own_policy_loss, (data, q), grad=True, pad=True)
            self._step(self.marginal_optimiser, self.marginal.parameters(), loss)
            logs["policy_loss"] = float(loss)
        return logs | {k: float(v) for k, v in stats.items()}

    def state_dict(self):
        return super().state_dict() | {"marginal_optimiser": self.marginal_optimiser.state_dict(),
                                       "policy_optimiser": self.policy_optimiser.state_dict()}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.marginal_optimiser.load_state_dict(state["marginal_optimiser"])
        self.policy_optimiser.load_state_dict(state["policy_optimiser"])

