"""Mixers: combine per-agent utilities Q_a into a joint Q_tot (VDN sum; QMIX monotonic hyper-network).

Every mixer takes one :class:`MixerInput`, which carries what the value-factorisation family reads:
the utilities of the actions valued, all utilities, the actions valued and the greedy ones, the
state and the agent mask (QPLEX's advantages need all utilities and the actions; QTRAN's and
weighted QMIX's central critics the actions; weighted QMIX the greedy ones).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.components.layers import Linear


@dataclass
class MixerInput:
    """Per-step inputs of a mixer over B episodes of T steps and A agents."""

    agent_qs: torch.Tensor                   # [B, T, A] utility of each agent's valued action
    state: torch.Tensor                      # [B, T, S]
    agent_mask: torch.Tensor                 # [B, T, A] float: 1 where the agent exists
    actions: torch.Tensor | None = None      # [B, T, A] long: the actions valued
    all_qs: torch.Tensor | None = None       # [B, T, A, n] every action's utility
    greedy: torch.Tensor | None = None       # [B, T, A] long: each agent's greedy available action

    def padded(self, steps: int) -> "MixerInput":
        """The same inputs zero-padded to ``steps`` steps (dim 1)."""
        def pad(x: torch.Tensor | None) -> torch.Tensor | None:
            if x is None or x.shape[1] >= steps:
                return x
            return torch.cat([x, x.new_zeros((x.shape[0], steps - x.shape[1], *x.shape[2:]))], dim=1)
        return MixerInput(**{f.name: pad(getattr(self, f.name)) for f in fields(self)})


class VDNMixer(nn.Module):
    """VDN: Q_tot = sum_a Q_a (padded agents contribute zero)."""

    def forward(self, x: MixerInput) -> torch.Tensor:
        return (x.agent_qs * x.agent_mask).sum(dim=-1)                 # [B, T]


class QMixer(nn.Module):
    """QMIX: Q_tot = monotonic mix of Q_a with non-negative weights produced from the state."""

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int = 32,
                 hypernet_layers: int = 2, hypernet_embed: int = 64) -> None:
        super().__init__()
        self.n_agents, self.embed_dim = n_agents, embed_dim

        def hyper(out: int) -> nn.Module:
            if hypernet_layers == 1:
                return Linear(state_dim, out)
            return nn.Sequential(Linear(state_dim, hypernet_embed), nn.ReLU(), Linear(hypernet_embed, out))

        self.hyper_w1 = hyper(embed_dim * n_agents)
        self.hyper_w_final = hyper(embed_dim)
        self.hyper_b1 = Linear(state_dim, embed_dim)
        self.V = nn.Sequential(Linear(state_dim, embed_dim), nn.ReLU(), Linear(embed_dim, 1))

    def forward(self, x: MixerInput) -> torch.Tensor:
        B, T, A = x.agent_qs.shape
        s = x.state.reshape(B * T, -1)                                            # [BT, S]
        qs = (x.agent_qs * x.agent_mask).reshape(B * T, 1, A)                     # [BT, 1, A]
        w1 = self.hyper_w1(s).abs().view(-1, A, self.embed_dim)                   # [BT, A, E]
        b1 = self.hyper_b1(s).view(-1, 1, self.embed_dim)                         # [BT, 1, E]
        hidden = F.elu(torch.bmm(qs, w1) + b1)                                    # [BT, 1, E]
        w_final = self.hyper_w_final(s).abs().view(-1, self.embed_dim, 1)         # [BT, E, 1]
        v = self.V(s).view(-1, 1, 1)                                              # [BT, 1, 1]
        return (torch.bmm(hidden, w_final) + v).view(B, T)                        # [B, T]
