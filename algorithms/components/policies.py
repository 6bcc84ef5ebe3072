"""Stochastic policies over discrete actions with availability masks."""
from __future__ import annotations

import torch
from torch.distributions import Categorical


def masked_categorical(logits: torch.Tensor, avail: torch.Tensor) -> Categorical:
    """A categorical distribution over the available actions only (``logits, avail [..., n]``)."""
    return Categorical(logits=logits.masked_fill(~avail, -1e10), validate_args=False)  # vmap: no data checks


def active_agents(avail: torch.Tensor, agent_mask: torch.Tensor) -> torch.Tensor:
    """``[..., A]`` bool: the agent exists and has a choice (more than the no-op; dead units have none),
    so a policy loss is taken over its step (MAPPO's active masks)."""
    return agent_mask & avail[..., 1:].any(-1)


def gumbel_noise(shape: torch.Size, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise −log(−log U) of ``shape``, drawn from ``generator`` (kept out of networks'
    calls, so a run group draws each run's noise from that run's stream)."""
    u = torch.rand(shape, generator=generator, device=generator.device).to(device)
    return -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-10)))


def gumbel_softmax(logits: torch.Tensor, avail: torch.Tensor, tau: float, generator: torch.Generator | None = None,
                   hard: bool = True, noise: torch.Tensor | None = None) -> torch.Tensor:
    """A differentiable sample of a one-hot action over the available ones (Jang et al. 2017):
    softmax((logits + Gumbel noise) / τ), made one-hot in the forward pass when ``hard`` (straight-through).
    The noise is ``noise`` if given, else drawn from ``generator``; with neither there is none (the relaxed
    greedy action). Returns ``[..., n]``."""
    logits = logits.masked_fill(~avail, -1e10)
    if noise is None and generator is not None:
        noise = gumbel_noise(logits.shape, generator, logits.device)
    if noise is not None:
        logits = logits + noise
    soft = torch.softmax(logits / tau, dim=-1)
    if not hard:
        return soft
    one_hot = torch.nn.functional.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return one_hot + soft - soft.detach()
