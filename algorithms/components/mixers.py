"""Mixers: combine per-agent utilities Q_a into a joint Q_tot (VDN sum; QMIX monotonic hyper-network)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VDNMixer(nn.Module):
    """VDN: Q_tot = sum_a Q_a (padded agents contribute zero)."""

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor, agent_mask: torch.Tensor) -> torch.Tensor:
        return (agent_qs * agent_mask).sum(dim=-1)                     # [B, T]


class QMixer(nn.Module):
    """QMIX: Q_tot = monotonic mix of Q_a with non-negative weights produced from the state."""

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int = 32,
                 hypernet_layers: int = 2, hypernet_embed: int = 64) -> None:
        super().__init__()
        self.n_agents, self.embed_dim = n_agents, embed_dim

        def hyper(out: int) -> nn.Module:
            if hypernet_layers == 1:
                return nn.Linear(state_dim, out)
            return nn.Sequential(nn.Linear(state_dim, hypernet_embed), nn.ReLU(), nn.Linear(hypernet_embed, out))

        self.hyper_w1 = hyper(embed_dim * n_agents)
        self.hyper_w_final = hyper(embed_dim)
        self.hyper_b1 = nn.Linear(state_dim, embed_dim)
        self.V = nn.Sequential(nn.Linear(state_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1))

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor, agent_mask: torch.Tensor) -> torch.Tensor:
        B, T, A = agent_qs.shape
        s = states.reshape(B * T, -1)                                             # [BT, S]
        qs = (agent_qs * agent_mask).reshape(B * T, 1, A)                         # [BT, 1, A]
        w1 = self.hyper_w1(s).abs().view(-1, A, self.embed_dim)                   # [BT, A, E]
        b1 = self.hyper_b1(s).view(-1, 1, self.embed_dim)                         # [BT, 1, E]
        hidden = F.elu(torch.bmm(qs, w1) + b1)                                    # [BT, 1, E]
        w_final = self.hyper_w_final(s).abs().view(-1, self.embed_dim, 1)         # [BT, E, 1]
        v = self.V(s).view(-1, 1, 1)                                              # [BT, 1, 1]
        return (torch.bmm(hidden, w_final) + v).view(B, T)                        # [B, T]
