"""One whole agent step of B battles as one pure function: check the actions, run the scripted
opponent, advance the world, restart finished battles from a reserve of fresh ones, build the views.

One function so that ``torch.compile`` makes one graph of it (``CombatEnv(compile=True)``): one
guard check and no eager glue per step, and autoreset without a data-dependent shape.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from harness.envs.combat.mechanics import BattleState, Rules, batch_where, new_state
from harness.envs.combat.observations import Layout, all_views, type_bits
from harness.envs.combat.opponent import scripted_actions
from harness.envs.combat.transition import episode_max_reward, transition
from harness.envs.combat.units import UnitTable


@dataclass
class Carry:
    """What one step hands to the next besides the battle state: per-battle constants of the
    episode, end flags, and the pairwise geometry and action masks of the current state."""

    battle: BattleState
    bits: torch.Tensor           # [B, U, n_bits] unit-type one-hots
    tags: torch.Tensor | None    # [B, E, E] entity tags (None without)
    max_reward: torch.Tensor     # [B] SMAC's reward normaliser
    terminated: torch.Tensor     # [B] bool
    truncated: torch.Tensor      # [B] bool
    won: torch.Tensor            # [B] bool
    delta: torch.Tensor          # [B, U, U, 2]
    dist: torch.Tensor           # [B, U, U]
    avail: torch.Tensor          # [B, A, n_actions] bool
    enemy_avail: torch.Tensor    # [B, N, 6 + max(A, N)] bool


@dataclass
class Reserve:
    """P fresh battles waiting to replace finished ones, taken in order from ``cursor``: only what
    is drawn at random (types and start positions); the rest follows from the unit table."""

    utype: torch.Tensor          # [P, U] long, -1 in empty slots
    pos: torch.Tensor            # [P, U, 2] start positions, overlaps already pushed apart
    tags: torch.Tensor | None    # [P, E, E]
    cursor: torch.Tensor         # [] long: index of the next unused battle


@dataclass(frozen=True, eq=False)
class Statics:
    """Everything about a step that is fixed for the environment's life (plain values become constants
    of the compiled graph; the tensors are its inputs)."""

    rules: Rules
    layout: Layout
    enemy_layout: Layout
    a_max: int
    n_max: int
    map_size: float
    splash_kinds: tuple[bool, bool]
    episode_limit: int
    entity_view: bool
    fallback_invalid: bool   # replace unavailable actions (invalid_actions="stop") instead of reporting them
    table: UnitTable
    home: torch.Tensor       # [U, 2]: where each slot's scripted unit heads when it sees nobody
    team: torch.Tensor       # [U] long: 0 for the agents' slots, 1 for the opponent's
    directions: torch.Tensor  # [N_MOVE, 2] movement vector of each move action

    def constants(self) -> tuple:
        """The plain fields (what the compiled graph bakes in), for keying compiled functions."""
        return tuple(getattr(self, f.name) for f in fields(self)
                     if not isinstance(getattr(self, f.name), (torch.Tensor, UnitTable)))


def _valid(actions: torch.Tensor, avail: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """Whether each action ``[B, S]`` is available; finished battles' actions count as valid (ignored)."""
    n = avail.shape[-1]
    ok = (actions >= 0) & (actions < n)
    ok = ok & torch.gather(avail, 2, actions.clamp(0, n - 1)[..., None]).squeeze(-1)
    return ok | ~live[:, None]


def _fallback(actions: torch.Tensor, ok: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Unavailable actions become stop for live units and no-op for dead ones."""
    return torch.where(ok, actions, alive.long())


def _take(reserve: Reserve, restart: torch.Tensor, s: "Statics") -> tuple[Reserve, BattleState, torch.Tensor | None]:
    """The next fresh battle for every restarting battle (in battle order); the others get a copy of
    some reserve battle that the caller discards. Returns the advanced reserve, the battles and tags."""
    P = reserve.utype.shape[0]
    src = (reserve.cursor + torch.cumsum(restart.long(), 0) - 1).clamp(0, P - 1)  # [B]
    utype, pos = reserve.utype.index_select(0, src), reserve.pos.index_select(0, src)
    fresh = new_state(utype, pos, s.table, s.home.expand(utype.shape[0], -1, -1))
    tags = None if reserve.tags is None else reserve.tags.index_select(0, src)
    advanced = Reserve(reserve.utype, reserve.pos, reserve.tags, reserve.cursor + restart.long().sum())
    return advanced, fresh, tags


def fused_step(carry: Carry, actions: torch.Tensor, enemy_actions: torch.Tensor | None, noise: torch.Tensor | None,
               reserve: Reserve | None, s: Statics):
    """Advance every battle by one agent step.

    ``enemy_actions`` None lets the scripted opponent play; ``reserve`` None means no autoreset.
    Returns (carry, reserve, views, reward [B], invalid [B, A] agents' unavailable actions,
    enemy_invalid [B, N] or None). With ``s.fallback_invalid`` unavailable actions were replaced;
    otherwise the caller must reject the step when any is flagged.
    """
    battle, team = carry.battle, s.team
    done = carry.terminated | carry.truncated  # [B]
    live = ~done
    A = s.a_max
    ok = _valid(actions, carry.avail, live)
    if s.fallback_invalid:
        actions = _fallback(actions, ok, battle.alive[:, :A])
    enemy_ok = None
    if enemy_actions is None:
        enemy_actions, enemy_memory = scripted_actions(battle, team, A, carry.delta, carry.dist, s.rules,
                                                       rows=slice(A, None), heals=s.layout.heals)
        memory = torch.cat([battle.memory[:, :A], enemy_memory], dim=1)
    else:
        memory = battle.memory
        enemy_ok = _valid(enemy_actions, carry.enemy_avail, live)
        if s.fallback_invalid:
            enemy_actions = _fallback(enemy_actions, enemy_ok, battle.alive[:, A:])
    joint = torch.cat([actions, enemy_actions], dim=1)  # [B, U]
    state, reward, terminated, truncated, won = transition(
        battle, joint, memory, live, carry.max_reward, noise, team, s.directions, s.rules, A, s.n_max,
        s.map_size, s.splash_kinds, s.layout.heals, s.episode_limit)
    terminated = torch.where(live, terminated, carry.terminated)
    truncated = torch.where(live, truncated, carry.truncated)
    won = torch.where(live, won, carry.won)
    bits, tags, max_reward = carry.bits, carry.tags, carry.max_reward

    if reserve is not None:  # battles that were already over start again with the next fresh battle
        restart = done
        reserve, fresh, fresh_tags = _take(reserve, restart, s)
        state = fresh.where(restart, state)
        bits = batch_where(restart, type_bits(fresh, s.layout), bits)
        if tags is not None:
            tags = batch_where(restart, fresh_tags, tags)
        max_reward = torch.where(restart, episode_max_reward(fresh, A), max_reward)
        keep = ~restart
        terminated, truncated, won = terminated & keep, truncated & keep, won & keep
        reward = torch.where(restart, torch.zeros_like(reward), reward)

    # the step that ends a battle shows its real final state (as SMAC does: a time-out's observation is
    # the one a bootstrapped target reads); only a battle already over offers its agents just the no-op
    over = done if reserve is None else torch.zeros_like(done)
    views = all_views(state, team, s.layout, s.enemy_layout, s.rules, bits, tags, over, s.entity_view)
    out = Carry(state, bits, tags, max_reward, terminated, truncated, won, views["delta"], views["dist"],
                views["avail"], views["enemy_avail"])
    return out, reserve, views, reward, ~ok, None if enemy_ok is None else ~enemy_ok
