"""Target networks: hard copies (DQN-style, every N updates) and soft Polyak averaging (DDPG-style)."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def soft_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """θ' ← τ θ + (1 − τ) θ' for every parameter and buffer."""
    for t, o in zip(target.state_dict().values(), online.state_dict().values()):
        if t.is_floating_point():
            t.mul_(1.0 - tau).add_(o, alpha=tau)
        else:
            t.copy_(o)
