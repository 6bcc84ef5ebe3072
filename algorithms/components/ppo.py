"""PPO's losses (Schulman et al. 2017) as MAPPO uses them: the clipped surrogate, a clipped value loss
with Huber error, and the running normaliser of value targets (MAPPO's ValueNorm)."""
from __future__ import annotations

import torch
from torch import nn


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` is 1 (0 if there are none)."""
    mask = mask.float()
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, advantage: torch.Tensor, clip: float,
                      mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """−E[min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)] with ρ = π/π_old, and the fraction of clipped ratios."""
    ratio = torch.exp(logp - old_logp)
    surrogate = torch.min(ratio * advantage, ratio.clamp(1.0 - clip, 1.0 + clip) * advantage)
    clipped = ((ratio - 1.0).abs() > clip).float()
    return -masked_mean(surrogate, mask), masked_mean(clipped, mask)


def clipped_value_loss(value: torch.Tensor, old_value: torch.Tensor, target: torch.Tensor, clip: float,
                       huber_delta: float, mask: torch.Tensor) -> torch.Tensor:
    """max(Huber(V − R), Huber(V_clipped − R)), V_clipped = V_old + clip(V − V_old, ±ε) (MAPPO's)."""
    clipped = old_value + (value - old_value).clamp(-clip, clip)
    huber = nn.functional.huber_loss
    loss = torch.max(huber(value, target, reduction="none", delta=huber_delta),
                     huber(clipped, target, reduction="none", delta=huber_delta))
    return masked_mean(loss, mask)


class ValueNorm(nn.Module):
    """Running mean and variance of value targets (debiased exponential averages, β close to 1), so
    the critic learns targets of unit scale whatever the reward scale; ``denormalise`` gives values."""

    def __init__(self, beta: float = 0.99999, eps: float = 1e-5) -> None:
        super().__init__()
        self.beta, self.eps = beta, eps
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("mean_sq", torch.zeros(()))
        self.register_buffer("debias", torch.zeros(()))

    @torch.no_grad()
    def update(self, x: torch.Tensor, mask: torch.Tensor) -> None:
        keep = x[mask.bool()]
        if keep.numel() == 0:
            return
        b = self.beta
        self.mean.mul_(b).add_((1 - b) * keep.mean())
        self.mean_sq.mul_(b).add_((1 - b) * (keep ** 2).mean())
        self.debias.mul_(b).add_(1 - b)

    def _stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.debias.clamp(min=self.eps)
        mean, mean_sq = self.mean / d, self.mean_sq / d
        return mean, (mean_sq - mean ** 2).clamp(min=1e-2).sqrt()

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats()
        return (x - mean) / std

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats()
        return x * std + mean
