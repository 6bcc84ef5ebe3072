"""The scripted opponent: attack the closest enemy in range and keep that target while it stays valid,
otherwise walk toward the closest visible enemy or the other side of the map. Medivacs heal the
most injured friend in range, otherwise follow the closest friend. Works for either team.
"""
from __future__ import annotations

import torch

from harness.envs.combat.mechanics import N_MOVE, BattleState, Rules, reach
from harness.envs.combat.units import HEAL


def move_toward(vec: torch.Tensor) -> torch.Tensor:
    """The cardinal move action (2-5: N, S, E, W) closest in direction to ``vec [..., 2]``; stop (1) if zero."""
    x, y = vec[..., 0], vec[..., 1]
    best = torch.stack([y, -y, x, -x], dim=-1).argmax(dim=-1) + 2  # dot products with N, S, E, W
    still = torch.linalg.vector_norm(vec, dim=-1) < 1e-6
    return torch.where(still, torch.ones_like(best), best)


def _closest(dist: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the closest masked unit per row ``[B, U]`` and whether one exists."""
    d = torch.where(mask, dist, torch.full_like(dist, float("inf")))
    return d.argmin(dim=-1), mask.any(dim=-1)


def scripted_actions(state: BattleState, team: torch.Tensor, a_max: int, delta: torch.Tensor,
                     dist: torch.Tensor, rules: Rules, rows: slice = slice(None),
                     heals: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Actions in SMAC's layout and the updated target memory of the units in slots ``rows`` ``[B, R]``.

    ``delta [B, U, U, 2]`` and ``dist [B, U, U]`` are pairwise offsets and distances (p_j - p_i).
    The environment asks only for the opponent's rows; ``heals=False`` (no Medivac in the scenario)
    skips the healers' rule.
    """
    B, U = state.alive.shape
    idx = torch.arange(U, device=team.device)[rows]  # [R]
    R = idx.numel()
    me_team = team[rows]  # [R]
    alive_j = state.alive[:, None, :]  # [B, 1, U]
    dist = dist[:, rows]  # [B, R, U]
    delta = delta[:, rows]
    foe = (me_team[:, None] != team[None, :])[None]  # [1, R, U]
    sees = dist < state.sight_range[:, rows, None]  # [B, R, U]
    in_reach = dist < reach(state, rules)[:, rows]
    alive = state.alive[:, rows]  # [B, R]
    memory = state.memory[:, rows]

    # attackers: keep the remembered target while it is alive and in range, else the closest one
    shootable = alive_j & foe & in_reach
    closest, any_shootable = _closest(dist, shootable)
    mem = memory.clamp(min=0)
    keep = (memory >= 0) & torch.gather(shootable, 2, mem[..., None]).squeeze(-1)
    attack_target = torch.where(keep, mem, closest)
    # SC2 keeps an attack target while it is alive and visible, chasing it out of range; SMAX drops it
    chase = torch.zeros_like(keep)
    if rules.chase_targets:
        chase = ((memory >= 0) & ~keep
                 & torch.gather(alive_j.expand(B, R, U) & sees, 2, mem[..., None]).squeeze(-1))
    acts = any_shootable & ~chase  # [B, R]
    target = attack_target
    follow = alive_j & foe & sees
    healer = torch.zeros_like(acts)

    if heals:  # healers: the friend with the lowest health fraction in range, else follow the closest friend
        friend = ~foe & (idx[:, None] != torch.arange(U, device=team.device)[None, :])[None]
        frac = state.health / state.max_health.clamp(min=1e-6)  # [B, U]
        injured = (alive_j & friend & in_reach & (state.health < state.max_health)[:, None, :]
                   & ~state.air[:, None, :])
        heal_score = torch.where(injured, frac[:, None, :].expand(B, R, U),
                                 torch.full((B, R, U), 2.0, device=dist.device))
        can_heal = injured.any(dim=-1) & (state.energy[:, rows] > 0)
        healer = state.kind[:, rows] == HEAL  # [B, R]
        acts = torch.where(healer, can_heal, acts)
        target = torch.where(healer, heal_score.argmin(dim=-1), target)
        follow = torch.where(healer[..., None], alive_j & friend & ~state.air[:, None, :], follow)

    # movement: toward the closest visible foe (healers: the closest friend), else home
    near, any_near = _closest(dist, follow)
    to_near = torch.gather(delta, 2, near[:, :, None, None].expand(B, R, 1, 2)).squeeze(2)  # [B, R, 2]
    to_home = state.home[:, rows] - state.pos[:, rows]
    to_mem = torch.gather(delta, 2, mem[:, :, None, None].expand(B, R, 1, 2)).squeeze(2)
    move = move_toward(torch.where(chase[..., None], to_mem,
                                   torch.where(any_near[..., None], to_near, to_home)))

    offset = torch.where(team[target] == 1, a_max, 0)  # slot of the target within its own team
    action = torch.where(acts, target - offset + N_MOVE, move)
    action = torch.where(alive, action, torch.zeros_like(action))
    memory = torch.where((acts | chase) & ~healer & alive, torch.where(chase, mem, target),
                         torch.full_like(target, -1))
    return action, memory
