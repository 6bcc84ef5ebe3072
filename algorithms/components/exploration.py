"""Exploration: PyMARL's linearly annealed epsilon and epsilon-greedy selection over available actions."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LinearSchedule:
    """Epsilon decays linearly from ``start`` to ``finish`` over ``anneal_steps`` env steps, then stays."""

    start: float
    finish: float
    anneal_steps: int

    def __call__(self, t_env: int) -> float:
        if self.anneal_steps <= 0:
            return self.finish
        frac = min(max(t_env, 0) / self.anneal_steps, 1.0)
        return self.start + frac * (self.finish - self.start)


def masked_argmax(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """Greedy action among the available ones: ``q [..., n]``, ``avail [..., n]`` bool → ``[...]``."""
    return q.masked_fill(~avail, float("-inf")).argmax(dim=-1)


def epsilon_greedy(q: torch.Tensor, avail: torch.Tensor, epsilon: float,
                   generator: torch.Generator) -> torch.Tensor:
    """With probability epsilon a uniformly random available action, else the greedy one ([B, A])."""
    greedy = masked_argmax(q, avail)                                           # [B, A]
    if epsilon <= 0.0:
        return greedy
    gen_device = generator.device
    weights = avail.float().to(gen_device)
    weights = torch.where(weights.sum(-1, keepdim=True) > 0, weights, torch.ones_like(weights))
    random = torch.multinomial(weights.flatten(0, -2), 1, generator=generator).view(greedy.shape)
    pick = torch.rand(greedy.shape, generator=generator, device=gen_device) < epsilon
    return torch.where(pick.to(q.device), random.to(q.device), greedy)
