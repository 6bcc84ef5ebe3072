"""Returns and advantages over fixed-horizon rollouts whose episodes end anywhere inside them."""
from __future__ import annotations

import torch


def gae(reward: torch.Tensor, value: torch.Tensor, end_of_return: torch.Tensor, episode_end: torch.Tensor,
        valid: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016) and the λ-returns ``A + V``.

    ``reward [B, H, ...]``; ``value [B, H+1, ...]`` (V of every step's input and of the observation after
    the last step); ``end_of_return [B, H]``: no bootstrap after step t (a game's end, or a time-out
    under time_limit "terminal"); ``episode_end [B, H]``: the episode ended at t (either way), so the
    advantage does not reach into the next episode; ``valid [B, H]``: t is a transition (the restart
    step of an autoresetting environment is not, and gets advantage 0). A time-out that is
    bootstrapped reads V of the real final observation, which the step after it in ``value`` holds:

        δ_t = r_t + γ (1 − end_t) V_{t+1} − V_t,   A_t = δ_t + γ λ (1 − episode_end_t) A_{t+1}.
    """
    extra = reward.dim() - end_of_return.dim()
    expand = lambda m: m.float().view(*m.shape, *([1] * extra))  # noqa: E731  [B, H] -> [B, H, 1...]
    not_end, carry_on, ok = 1.0 - expand(end_of_return), 1.0 - expand(episode_end), expand(valid)
    advantages = torch.zeros_like(reward)
    running = torch.zeros_like(reward[:, 0])
    for t in reversed(range(reward.shape[1])):
        delta = reward[:, t] + gamma * not_end[:, t] * value[:, t + 1] - value[:, t]
        running = (delta + gamma * lam * carry_on[:, t] * running) * ok[:, t]
        advantages[:, t] = running
    return advantages, advantages + value[:, :-1]
