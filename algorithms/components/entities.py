"""Entity-attention networks for teams of varying size (REFIL, Iqbal et al. 2021): every unit is one
entity feature vector, and each agent attends over the entities it may see, so the same parameters
serve any number of allies and enemies.

Masks follow the environment's convention: True = allowed (``obs_mask [B, A, E]``: agent a sees
entity e; ``entity_mask [B, E]``: entity e is present). Agents are the first A entities.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.components.layers import GRUCell, Linear
from algorithms.components.replay import EpisodeBatch


class EntityAttention(nn.Module):
    """One multi-head attention layer: the first Q entities (the agents) query every entity they are
    allowed to; a query allowed nothing returns the output bias (REFIL's zeroed heads). Masked logits
    are a large negative, not −∞, so no NaN reaches a gradient."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not a multiple of its {heads} heads")
        self.heads = heads
        self.qkv = Linear(dim, 3 * dim, bias=False)
        self.out = Linear(dim, dim)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``x [N, E, d]``, ``allowed [N, Q, E]`` bool → ``[N, Q, d]`` for the first Q entities."""
        N, E, d = x.shape
        Q, H = allowed.shape[1], self.heads
        q, k, v = self.qkv(x).chunk(3, dim=-1)                                     # [N, E, d] each
        q = q[:, :Q].reshape(N, Q, H, d // H).transpose(1, 2)                      # [N, H, Q, d/H]
        k = k.reshape(N, E, H, d // H).transpose(1, 2)                             # [N, H, E, d/H]
        v = v.reshape(N, E, H, d // H).transpose(1, 2)                             # [N, H, E, d/H]
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(d // H)                     # [N, H, Q, E]
        logits = logits.masked_fill(~allowed[:, None], -1e9)
        w = logits.softmax(dim=-1) * allowed.any(dim=-1)[:, None, :, None].float()
        heads = (w @ v).transpose(1, 2).reshape(N, Q, d)                           # [N, Q, d]
        return self.out(heads)


def with_last_actions(entities: torch.Tensor, last_actions: torch.Tensor | None, n_agents: int,
                      n_actions: int) -> torch.Tensor:
    """Entity features with the one-hot previous action appended on the agents' rows (zeros on the
    others, and everywhere when there is none): ``[..., E, d]`` → ``[..., E, d + n_actions]``."""
    E = entities.shape[-2]
    onehot = entities.new_zeros((*entities.shape[:-1], n_actions))
    if last_actions is not None:
        pad = entities.new_zeros((*last_actions.shape[:-1], E - n_agents, n_actions))
        onehot = torch.cat([F.one_hot(last_actions.long(), n_actions).float(), pad], dim=-2)
    return torch.cat([entities, onehot], dim=-1)


def batch_entity_inputs(batch: EpisodeBatch, n_actions: int) -> torch.Tensor:
    """Every step's entity inputs ``[B, T+1, E, d + n_actions]``: features plus the action taken at
    the step before (none at the first)."""
    A = batch.actions.shape[-1]
    first = with_last_actions(batch.entities[:, :1], None, A, n_actions)
    rest = with_last_actions(batch.entities[:, 1:], batch.actions, A, n_actions)
    return torch.cat([first, rest], dim=1)


class EntityAgent(nn.Module):
    """REFIL's agent: linear → ReLU → entity attention (the agent's own entity as query) → linear →
    ReLU → GRU cell → one utility per action. ``own_skip`` also feeds the agent's own embedded entity
    past the attention into the second linear layer (not in REFIL: there the agent knows itself only
    through its query, and agents seeing the same entities start out with near-identical outputs)."""

    def __init__(self, input_dim: int, n_actions: int, embed_dim: int = 128, heads: int = 4,
                 hidden_dim: int = 64, own_skip: bool = False) -> None:
        super().__init__()
        self.hidden_dim, self.own_skip = hidden_dim, own_skip
        self.fc1 = Linear(input_dim, embed_dim)
        self.attention = EntityAttention(embed_dim, heads)
        self.fc2 = Linear(2 * embed_dim if own_skip else embed_dim, hidden_dim)
        self.rnn = GRUCell(hidden_dim, hidden_dim)
        self.fc3 = Linear(hidden_dim, n_actions)

    def forward(self, entities: torch.Tensor, allowed: torch.Tensor,
                hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``entities [N, E, in]``, ``allowed [N, A, E]``, ``hidden [N, A, H]`` → utilities
        ``[N, A, n_actions]`` and the next hidden state ``[N, A, H]``."""
        N, A, _ = allowed.shape
        e = F.relu(self.fc1(entities))                                             # [N, E, embed]
        x = self.attention(e, allowed)                                             # [N, A, embed]
        if self.own_skip:
            x = torch.cat([x, e[:, :A]], dim=-1)                                   # [N, A, 2 embed]
        x = F.relu(self.fc2(x))                                                    # [N, A, H]
        h = self.rnn(x.reshape(N * A, -1), hidden.reshape(N * A, -1))              # [NA, H]
        return self.fc3(h).view(N, A, -1), h.view(N, A, -1)


class EntityController(nn.Module):
    """The entity agents of a team: inputs are the entity view plus each agent's previous action (no
    agent id: REFIL tells agents apart by their own entity), attention limited to what each agent sees.
    The interface of :class:`~algorithms.components.agents.AgentController` (``forward`` on one step,
    ``unroll`` over a batch), with the entity view in place of observations. ``agent`` maps
    (entity inputs of width entity_dim + n_actions, allowed mask, hidden) to utilities and the next
    hidden state (and, for OPT, its auxiliary loss terms): :class:`EntityAgent`, or OPT's agent.
    ``last_action`` False: the entity features alone (entity_dim wide; attention MAPPO's actor)."""

    def __init__(self, n_agents: int, n_actions: int, agent: nn.Module, last_action: bool = True) -> None:
        super().__init__()
        self.n_agents, self.n_actions, self.agent = n_agents, n_actions, agent
        self.last_action = last_action

    def init_hidden(self, batch_size: int, device: torch.device) -> torch.Tensor:
        return torch.zeros(batch_size, self.n_agents, self.agent.hidden_dim, device=device)  # [B, A, H]

    def forward(self, entities: torch.Tensor, obs_mask: torch.Tensor, last_actions: torch.Tensor | None,
                hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``entities [B, E, d]``, ``obs_mask [B, A, E]`` → utilities ``[B, A, n]``, hidden."""
        inputs = (with_last_actions(entities, last_actions, self.n_agents, self.n_actions)
                  if self.last_action else entities)
        q, h = self.agent(inputs, obs_mask, hidden)[:2]
        return q, h

    def unroll(self, batch: EpisodeBatch, allowed: torch.Tensor | None = None, with_aux: bool = False):
        """Utilities for every step of a batch ``[B, T+1, A, n]``; ``allowed [B, T+1, A, E]`` replaces
        the observation mask (REFIL's imagined sub-groups); ``with_aux`` also returns the agent's
        auxiliary terms stacked over steps (``{name: [B, T+1, A]}``)."""
        inputs = batch_entity_inputs(batch, self.n_actions) if self.last_action else batch.entities  # [B, T+1, E, in]
        allowed = batch.obs_mask if allowed is None else allowed
        hidden = self.init_hidden(batch.batch_size, batch.entities.device)
        outs, auxes = [], []
        for t in range(batch.max_t + 1):
            out = self.agent(inputs[:, t], allowed[:, t], hidden)
            q, hidden = out[0], out[1]
            outs.append(q)
            if with_aux:
                auxes.append(out[2])
        q = torch.stack(outs, dim=1)
        if not with_aux:
            return q
        return q, {k: torch.stack([a[k] for a in auxes], dim=1) for k in auxes[0]}

    def unroll_steps(self, entities: torch.Tensor, obs_mask: torch.Tensor, starts: torch.Tensor,
                     hidden: torch.Tensor) -> torch.Tensor:
        """Outputs over a fixed-horizon rollout whose episodes start anywhere in it (the interface of
        ``AgentController.unroll_steps``, without last actions): ``entities [B, T, E, d]``,
        ``obs_mask [B, T, A, E]``, ``starts [B, T]`` (hidden state reset before step t),
        ``hidden [B, A, H]`` before step 0 → ``[B, T, A, n_actions]``."""
        if self.last_action:
            raise ValueError("unroll_steps feeds no previous actions: build the controller with last_action=False")
        outs = []
        for t in range(entities.shape[1]):
            hidden = hidden * (~starts[:, t]).float()[:, None, None]
            q, hidden = self.agent(entities[:, t], obs_mask[:, t], hidden)[:2]
            outs.append(q)
        return torch.stack(outs, dim=1)


class AttentionHyperNet(nn.Module):
    """A hyper-network over the entity state: linear → ReLU → entity attention with the agents as
    queries → linear, one output row per agent (rows of absent agents zeroed)."""

    def __init__(self, input_dim: int, out_dim: int, embed_dim: int = 128, heads: int = 4) -> None:
        super().__init__()
        self.fc1 = Linear(input_dim, embed_dim)
        self.attention = EntityAttention(embed_dim, heads)
        self.fc2 = Linear(embed_dim, out_dim)

    def forward(self, entities: torch.Tensor, allowed: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``entities [N, E, in]``, ``allowed [N, Q, E]``, ``rows [N, Q]`` float → ``[N, Q, out]``."""
        return self.fc2(self.attention(F.relu(self.fc1(entities)), allowed)) * rows.unsqueeze(-1)
