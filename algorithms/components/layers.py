"""Layers written so that a stack of runs (``torch.func.vmap`` over a run dimension, see
``algorithms/calls.py``) computes each run's numbers exactly as that run alone does.

``nn.GRUCell`` has no batching rule (vmap falls back to a slow loop over runs), and a linear layer
with a single output is computed by a different kernel for one run than for several (a matrix-vector
product), which changes the last bits. These replacements keep the parameter names and
initialisation of the layers they replace, so state dicts and seeded initial weights are the same.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GRUCell(nn.GRUCell):
    """``nn.GRUCell`` (same parameters, same maths) in plain tensor operations:
    r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h."""

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        gi = F.linear(x, self.weight_ih, self.bias_ih)        # [N, 3H]
        gh = F.linear(h, self.weight_hh, self.bias_hh)        # [N, 3H]
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return n + z * (h - n)                                 # [N, H]


class Linear(nn.Linear):
    """``nn.Linear`` whose single-output case is a multiply-and-sum, the same computation for one run
    and for a stack of runs (every wider layer already is)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.out_features != 1:
            return F.linear(x, self.weight, self.bias)
        y = (x * self.weight[0]).sum(dim=-1, keepdim=True)     # [..., 1]
        return y + self.bias if self.bias is not None else y
