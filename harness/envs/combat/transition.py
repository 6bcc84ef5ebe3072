"""One agent step of B battles as a pure function: decode actions, run the world ticks, score.

Kept free of Python state so that ``torch.compile`` can fuse it (``CombatEnv(compile=True)``).
"""
from __future__ import annotations

from dataclasses import replace

import torch

from harness.envs.combat.mechanics import DYNAMIC_FIELDS, N_MOVE, BattleState, Rules, advance, plan_orders
from harness.envs.combat.units import HEAL

KILL_BONUS, WIN_BONUS, MAX_RETURN = 10.0, 200.0, 20.0  # SMAC's reward constants


def decode_actions(actions: torch.Tensor, state: BattleState, team: torch.Tensor, a_max: int, n_max: int,
                   directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Movement unit vectors ``[B, U, 2]`` and target slots ``[B, U]`` (-1 none) from SMAC-layout
    actions ``[B, U]``: 6+k targets slot k of the other team (Medivacs: of their own team)."""
    k = actions - N_MOVE
    heal = state.kind == HEAL
    own = torch.where(team == 0, 0, a_max)
    other = torch.where(team == 0, a_max, 0)
    size = torch.where(heal, torch.where(team == 0, a_max, n_max), torch.where(team == 0, n_max, a_max))
    slot = torch.where(heal, own + k, other + k)
    target = torch.where((actions >= N_MOVE) & (k < size), slot, -1)
    move = directions[actions.clamp(0, N_MOVE - 1)] * (actions < N_MOVE)[..., None]  # [B, U, 2]
    return move, target


def episode_max_reward(state: BattleState, a_max: int) -> torch.Tensor:
    """SMAC's normaliser ``[B]``: all enemy hit points and shields, a bonus per kill and the win bonus."""
    hp = ((state.max_health + state.max_shield) * state.exists)[:, a_max:].sum(1)
    return hp + KILL_BONUS * state.exists[:, a_max:].sum(1) + WIN_BONUS


def transition(before: BattleState, joint: torch.Tensor, memory: torch.Tensor, live: torch.Tensor,
               max_reward: torch.Tensor, noise: torch.Tensor | None, team: torch.Tensor,
               directions: torch.Tensor, rules: Rules, a_max: int, n_max: int, map_size: float,
               splash_kinds: tuple[bool, bool], heals: bool, episode_limit: int):
    """Advance the battles where ``live [B]``; the others keep their state and score nothing.

    Returns (state, reward [B], terminated [B], truncated [B], won [B]). The reward is SMAC's:
    enemy damage (hit points and shields) + 10 per kill + 200 for a win, scaled so that a won
    episode returns 20.
    """
    move, target = decode_actions(joint, before, team, a_max, n_max, directions)
    orders = plan_orders(before, move, target, team, rules, splash_kinds[0] or splash_kinds[1])
    state, struck = advance(before, orders, team, rules, map_size, splash_kinds, heals, noise)
    state = replace(state, last_action=joint, attack_target=struck, memory=memory, t=before.t + 1)
    state = state.where(live, before, DYNAMIC_FIELDS)

    hp_before = (before.health + before.shield)[:, a_max:]
    hp_after = (state.health + state.shield)[:, a_max:]
    damage = (hp_before - hp_after).clamp(min=0).sum(1)
    kills = (before.alive & ~state.alive)[:, a_max:].sum(1)
    allies_alive = state.alive[:, :a_max].any(1)
    enemies_alive = state.alive[:, a_max:].any(1)
    terminated = ~allies_alive | ~enemies_alive
    won = ~enemies_alive & allies_alive
    truncated = ~terminated & (state.t >= episode_limit)
    reward = (damage + KILL_BONUS * kills + WIN_BONUS * won) / max_reward * MAX_RETURN
    return state, torch.where(live, reward, 0.0), terminated, truncated, won
