"""Deterministic actors: a parameter-shared MLP from each agent's observation (and id) to its action."""
from __future__ import annotations

import torch
from torch import nn

from algorithms.components.layers import Linear


class DeterministicActor(nn.Module):
    """μ(o_i, id_i): a bounded continuous action (tanh scaled to [low, high]) or, for discrete actions,
    logits (relaxed with Gumbel-softmax by the learner)."""

    def __init__(self, obs_dim: int, n_agents: int, out_dim: int, hidden_dim: int = 64,
                 bounds: tuple[float, float] | None = None) -> None:
        super().__init__()
        self.n_agents, self.bounds = n_agents, bounds
        self.net = nn.Sequential(Linear(obs_dim + n_agents, hidden_dim), nn.ReLU(),
                                 Linear(hidden_dim, hidden_dim), nn.ReLU(), Linear(hidden_dim, out_dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [N, A, obs_dim]`` → actions or logits ``[N, A, out_dim]``."""
        N, A, _ = obs.shape
        out = self.net(torch.cat([obs, torch.eye(A, device=obs.device).expand(N, A, A)], dim=-1))
        if self.bounds is None:
            return out
        low, high = self.bounds
        return low + (torch.tanh(out) + 1.0) * (high - low) / 2.0
