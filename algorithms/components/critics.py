"""Critics: value functions of the global state used by centralised-training actor-critics."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.components.entities import EntityAttention
from algorithms.components.layers import Linear


class CentralValue(nn.Module):
    """V(s, a-id) per agent: an MLP over the global state and the agent's one-hot id (MAPPO's
    centralised critic with a shared network; EPyMARL's CentralV critic without the observation)."""

    def __init__(self, state_dim: int, n_agents: int, hidden_dim: int = 128) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.net = nn.Sequential(Linear(state_dim + n_agents, hidden_dim), nn.ReLU(),
                                 Linear(hidden_dim, hidden_dim), nn.ReLU(), Linear(hidden_dim, 1))

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        """``state [..., S]`` → values ``[..., A]``."""
        lead = state.shape[:-1]
        ids = torch.eye(self.n_agents, device=state.device).expand(*lead, self.n_agents, self.n_agents)
        x = torch.cat([state.unsqueeze(-2).expand(*lead, self.n_agents, state.shape[-1]), ids], dim=-1)
        return self.net(x).squeeze(-1)                                            # [..., A]


class EntityValue(nn.Module):
    """V(s)_a per agent over the entity state, for teams of any size: every entity embedded (linear →
    ReLU), agent a's row attending over the present entities, then linear → ReLU → linear to one value
    (attention MAPPO's critic; the agent's own entity tells agents apart, so there is no id input)."""

    def __init__(self, entity_dim: int, embed_dim: int = 128, heads: int = 4, hidden_dim: int = 128) -> None:
        super().__init__()
        self.fc1 = Linear(entity_dim, embed_dim)
        self.attention = EntityAttention(embed_dim, heads)
        self.fc2 = Linear(embed_dim, hidden_dim)
        self.out = Linear(hidden_dim, 1)

    def forward(self, entities: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``entities [..., E, d]``, ``allowed [..., A, E]`` bool (agent a exists and entity e is present)
        → values ``[..., A]``."""
        lead, (E, d), A = entities.shape[:-2], entities.shape[-2:], allowed.shape[-2]
        x = self.attention(F.relu(self.fc1(entities.reshape(-1, E, d))), allowed.reshape(-1, A, E))
        return self.out(F.relu(self.fc2(x))).view(*lead, A)


class JointActionCritic(nn.Module):
    """Q_i(s, u_1, ..., u_n) for every agent i with one shared network and the agent's one-hot id
    (MADDPG's centralised critics under parameter sharing). Actions enter as vectors: continuous
    actions scaled to [-1, 1], discrete ones as one-hots."""

    def __init__(self, state_dim: int, n_agents: int, action_dim: int, hidden_dim: int = 64) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.net = nn.Sequential(Linear(state_dim + n_agents * action_dim + n_agents, hidden_dim), nn.ReLU(),
                                 Linear(hidden_dim, hidden_dim), nn.ReLU(), Linear(hidden_dim, 1))

    def forward(self, state: torch.Tensor, joint: torch.Tensor) -> torch.Tensor:
        """``state [N, S]`` and joint actions ``[N, A, A, d]`` (row i: the joint action valued for agent i)
        → ``Q [N, A]``."""
        N, A = joint.shape[:2]
        ids = torch.eye(A, device=state.device).expand(N, A, A)
        x = torch.cat([state.unsqueeze(1).expand(N, A, state.shape[-1]), joint.flatten(2), ids], dim=-1)
        return self.net(x).squeeze(-1)                                            # [N, A]
