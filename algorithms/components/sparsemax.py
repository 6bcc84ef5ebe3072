"""Sparsemax (Martins & Astudillo 2016): the Euclidean projection of a score vector onto the
probability simplex, sparsemax(z) = argmin_{p ∈ Δ} ||p − z||², a softmax replacement whose outputs
have exact zeros. OPT weighs its interaction prototypes' attention with it.

With z sorted descending, the support size is k(z) = max{k : 1 + k z_(k) > Σ_{j≤k} z_(j)}, the
threshold τ(z) = (Σ_{j≤k} z_(j) − 1) / k, and sparsemax(z) = max(z − τ, 0). On the support S its
Jacobian is I − 1 1ᵀ / |S| (zero off it), so the backward pass of an upstream gradient g is
s ⊙ (g − Σ_{i∈S} g_i / |S|), s the support indicator.
"""
from __future__ import annotations

import torch


class _Sparsemax(torch.autograd.Function):
    generate_vmap_rule = True   # plain tensor operations: vmap (run groups) batches them

    @staticmethod
    def forward(z: torch.Tensor, dim: int) -> torch.Tensor:
        z = z.movedim(dim, -1)                                                     # [..., n]
        z = z - z.max(dim=-1, keepdim=True).values                                 # τ is shift-invariant
        srt = z.sort(dim=-1, descending=True).values                               # [..., n]
        k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)       # [n]
        cum = srt.cumsum(dim=-1)                                                   # [..., n]
        support = (1 + k * srt > cum)                                              # [..., n] prefix of True
        size = support.sum(dim=-1, keepdim=True)                                   # [..., 1] k(z) ≥ 1
        tau = (cum.gather(-1, size - 1) - 1) / size.to(z.dtype)                    # [..., 1]
        return (z - tau).clamp(min=0).movedim(-1, dim)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (p,) = ctx.saved_tensors
        s = (p > 0).to(grad.dtype)                                                 # support indicator
        mean = (grad * s).sum(dim=ctx.dim, keepdim=True) / s.sum(dim=ctx.dim, keepdim=True)
        return s * (grad - mean), None


def sparsemax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sparsemax of ``z`` along ``dim``: non-negative, summing to 1, with exact zeros."""
    return _Sparsemax.apply(z, dim)
