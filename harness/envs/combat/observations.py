"""The two views of one battle state: SMAC-compatible per-agent observations and global state, and
REFIL's entity view (one feature vector per unit, visibility and existence masks); plus the
available-action masks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.envs.combat.mechanics import N_MOVE, BattleState, Rules, pairwise, reach
from harness.envs.combat.units import HEAL, UNIT_TYPES


@dataclass(frozen=True)
class Layout:
    """Static sizes of the views, fixed by the scenario set and the padding."""

    a_max: int
    n_max: int
    n_actions: int
    unit_types: tuple[str, ...]   # types whose one-hot bits appear in features
    shields: bool                 # include shield features
    map_size: float
    obs_last_action: bool = False
    state_last_action: bool = True
    entity_tags: bool = False
    heals: bool = True            # a healer can appear (its target slots are friends); False skips that rule

    @property
    def n_bits(self) -> int:
        return len(self.unit_types) if len(self.unit_types) > 1 else 0

    @property
    def enemy_dim(self) -> int:
        return 5 + int(self.shields) + self.n_bits

    @property
    def ally_dim(self) -> int:
        return 5 + int(self.shields) + self.n_bits + (self.n_actions if self.obs_last_action else 0)

    @property
    def own_dim(self) -> int:
        return 1 + int(self.shields) + self.n_bits

    @property
    def obs_dim(self) -> int:
        return 4 + self.n_max * self.enemy_dim + (self.a_max - 1) * self.ally_dim + self.own_dim

    @property
    def state_dim(self) -> int:
        ally = 4 + int(self.shields) + self.n_bits
        enemy = 3 + int(self.shields) + self.n_bits
        last = self.a_max * self.n_actions if self.state_last_action else 0
        return self.a_max * ally + self.n_max * enemy + last

    @property
    def n_entities(self) -> int:
        return self.a_max + self.n_max

    @property
    def entity_dim(self) -> int:
        return 7 + max(len(self.unit_types), 1) + (self.n_entities if self.entity_tags else 0)


def type_bits(state: BattleState, layout: Layout) -> torch.Tensor:
    """One-hot of each unit's type over ``layout.unit_types`` ``[B, U, n_bits]``."""
    lookup = torch.full((len(UNIT_TYPES),), 0, dtype=torch.long, device=state.utype.device)
    for i, name in enumerate(layout.unit_types):
        lookup[UNIT_TYPES.index(name)] = i
    width = max(len(layout.unit_types), 1)
    return torch.nn.functional.one_hot(lookup[state.utype], width).to(torch.float32)


def available_actions(state: BattleState, team: torch.Tensor, layout: Layout, dist: torch.Tensor,
                      rules: Rules, side: int) -> torch.Tensor:
    """Available actions of one side's units ``[B, S, n_actions]`` (side 0 = agents, 1 = opponent).

    Dead or absent units may only no-op; live units may stop and move; they may target an enemy
    slot that is alive and within attack range (Medivacs: an injured live ally other than
    themselves, while they have energy). Cooldowns do not mask attacks: an attack chosen during a
    cooldown fires as soon as the cooldown ends.
    """
    A, U = layout.a_max, dist.shape[1]
    rows = slice(0, A) if side == 0 else slice(A, U)
    alive = state.alive[:, rows]  # [B, S]
    B, S = alive.shape
    in_reach = (dist < reach(state, rules))[:, rows]  # [B, S, U]
    alive_j = state.alive[:, None, :]
    foes = slice(A, U) if side == 0 else slice(0, A)
    friends = slice(0, A) if side == 0 else slice(A, U)
    can_attack = (in_reach & alive_j)[:, :, foes]  # [B, S, n_foes]
    width = layout.n_actions - N_MOVE
    targets = torch.nn.functional.pad(can_attack, (0, width - can_attack.shape[-1]))
    if layout.heals:  # Medivacs target injured friends instead
        own_idx = torch.arange(S, device=dist.device)
        injured = (state.health < state.max_health)[:, None, friends] & ~state.air[:, None, friends]
        can_heal = (in_reach & alive_j)[:, :, friends] & injured
        can_heal = can_heal & (own_idx[None, :, None] != own_idx[None, None, :]) & (state.energy[:, rows] > 0)[..., None]
        healer = (state.kind[:, rows] == HEAL)[..., None]
        heal = torch.nn.functional.pad(can_heal, (0, max(width - can_heal.shape[-1], 0)))[..., :width]
        targets = torch.where(healer, heal, targets)
    targets = targets & alive[..., None]
    head = torch.stack([~alive] + [alive] * (N_MOVE - 1), dim=-1)  # [B, S, 6]
    return torch.cat([head, targets], dim=-1)  # [B, S, n_actions]


def _other_allies(A: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Index tensors picking, for each agent i, every other agent: ``[A, 1]`` and ``[A, A-1]``."""
    rows = torch.arange(A, device=device)[:, None]
    k = torch.arange(max(A - 1, 0), device=device)[None, :]
    return rows, k + (k >= rows).long()


def agent_observations(state: BattleState, layout: Layout, delta: torch.Tensor, dist: torch.Tensor,
                       avail: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """SMAC-style observations of the agents ``[B, A, obs_dim]`` (zeros for dead agents)."""
    A = layout.a_max
    B, U = state.alive.shape
    me = state.alive[:, :A]  # [B, A]
    sight = state.sight_range[:, :A, None]  # [B, A, 1]
    rel = delta[:, :A] / sight[..., None]  # [B, A, U, 2]
    d = dist[:, :A] / sight  # [B, A, U]
    visible = (dist[:, :A] < sight) & state.alive[:, None, :] & me[..., None]  # [B, A, U]
    health = (state.health / state.max_health.clamp(min=1e-6))[:, None, :].expand(B, A, U)
    unit_feats = [health[..., None]]
    if layout.shields:
        shield = (state.shield / state.max_shield.clamp(min=1e-6))[:, None, :].expand(B, A, U)
        unit_feats.append(shield[..., None])
    if layout.n_bits:
        unit_feats.append(bits[:, None].expand(B, A, U, bits.shape[-1]))
    geo = torch.cat([d[..., None], rel], dim=-1)  # [B, A, U, 3]
    # enemies: [attackable, dist, dx, dy, health, (shield), (type bits)]
    attackable = avail[:, :, N_MOVE:N_MOVE + layout.n_max].to(torch.float32)
    enemy = torch.cat([attackable[..., None], geo[:, :, A:]] + [f[:, :, A:] for f in unit_feats], dim=-1)
    enemy = enemy * visible[:, :, A:, None]  # [B, A, N, enemy_dim]
    # other allies: [visible, dist, dx, dy, health, (shield), (type bits), (last action)]
    ally_parts = [visible[:, :, :A, None].to(torch.float32), geo[:, :, :A]] + [f[:, :, :A] for f in unit_feats]
    if layout.obs_last_action:
        last = torch.nn.functional.one_hot(state.last_action[:, :A], layout.n_actions).to(torch.float32)
        ally_parts.append(last[:, None].expand(B, A, A, layout.n_actions))
    ally = torch.cat(ally_parts, dim=-1) * visible[:, :, :A, None]  # [B, A, A, ally_dim]
    rows, others = _other_allies(A, dist.device)
    ally = ally[:, rows, others]  # [B, A, A-1, ally_dim]
    own = [state.health[:, :A, None] / state.max_health[:, :A, None].clamp(min=1e-6)]
    if layout.shields:
        own.append(state.shield[:, :A, None] / state.max_shield[:, :A, None].clamp(min=1e-6))
    if layout.n_bits:
        own.append(bits[:, :A])
    moves = avail[:, :, 2:6].to(torch.float32)  # [B, A, 4]
    obs = torch.cat([moves, enemy.flatten(2), ally.flatten(2), torch.cat(own, dim=-1)], dim=-1)
    return obs * me[..., None]


def global_state(state: BattleState, layout: Layout, bits: torch.Tensor) -> torch.Tensor:
    """SMAC-style global state ``[B, state_dim]``: allies, enemies, then the agents' last actions."""
    A = layout.a_max
    centre = layout.map_size / 2
    health = state.health / state.max_health.clamp(min=1e-6)  # [B, U]
    rel = (state.pos - centre) / layout.map_size  # [B, U, 2]
    timer = torch.where(state.kind == HEAL, state.energy / state.max_energy.clamp(min=1e-6),
                        (state.cooldown / state.max_cooldown.clamp(min=1e-6)).clamp(0, 1))
    feats = [health[..., None], rel]
    if layout.shields:
        feats.append((state.shield / state.max_shield.clamp(min=1e-6))[..., None])
    if layout.n_bits:
        feats.append(bits)
    ally = torch.cat([feats[0], timer[..., None]] + feats[1:], dim=-1)[:, :A]  # [B, A, ally]
    enemy = torch.cat(feats, dim=-1)[:, A:]  # [B, N, enemy]
    live = state.alive[..., None]
    parts = [(ally * live[:, :A]).flatten(1), (enemy * live[:, A:]).flatten(1)]
    if layout.state_last_action:
        last = torch.nn.functional.one_hot(state.last_action[:, :A], layout.n_actions).to(torch.float32)
        parts.append((last * state.exists[:, :A, None]).flatten(1))
    return torch.cat(parts, dim=-1)


def entities_of(state: BattleState, layout: Layout, dist: torch.Tensor, bits: torch.Tensor,
                tags: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """REFIL's view: entities ``[B, E, entity_dim]``, entity_mask ``[B, E]``, obs_mask ``[B, A, E]``.

    Entity features: [is agent, is enemy, health, shield, x, y, cooldown, type one-hot, (tag)].
    """
    A = layout.a_max
    B, U = state.alive.shape
    is_agent = torch.zeros(B, U, 1, device=dist.device)
    is_agent[:, :A] = 1
    cd = (state.cooldown / state.max_cooldown.clamp(min=1e-6)).clamp(0, 1)
    feats = [is_agent, 1 - is_agent, (state.health / state.max_health.clamp(min=1e-6))[..., None],
             (state.shield / state.max_shield.clamp(min=1e-6))[..., None],
             (state.pos - layout.map_size / 2) / layout.map_size, cd[..., None], bits]
    if tags is not None:
        feats.append(tags)
    entities = torch.cat(feats, dim=-1) * state.alive[..., None]  # [B, E, entity_dim]
    sees = (dist[:, :A] < state.sight_range[:, :A, None]) & state.alive[:, :A, None] & state.alive[:, None, :]
    return entities, state.alive.clone(), sees


def all_views(state: BattleState, team: torch.Tensor, layout: Layout, enemy_layout: Layout, rules: Rules,
              bits: torch.Tensor, tags: torch.Tensor | None, done: torch.Tensor,
              entity_view: bool = True) -> dict[str, torch.Tensor | None]:
    """Every view of the state after a step, as one pure function (so that it can be compiled).

    A battle that was over before this step (``done [B]``) offers its agents only the no-op until it is
    reset; the step that ends a battle still shows its real state and actions. The entity
    view is None unless ``entity_view`` (only entity algorithms read it).
    """
    delta, dist = pairwise(state.pos)
    avail = available_actions(state, team, layout, dist, rules, side=0)
    noop_only = torch.zeros_like(avail)
    noop_only[..., 0] = True
    avail = torch.where(done[:, None, None], noop_only, avail)
    entities = entity_mask = obs_mask = None
    if entity_view:
        entities, entity_mask, obs_mask = entities_of(state, layout, dist, bits, tags)
    A = layout.a_max
    dead = state.exists & ~state.alive
    return dict(
        delta=delta, dist=dist, avail=avail,
        enemy_avail=available_actions(state, team, enemy_layout, dist, rules, side=1),
        obs=agent_observations(state, layout, delta, dist, avail, bits),
        state=global_state(state, layout, bits), entities=entities, entity_mask=entity_mask, obs_mask=obs_mask,
        agent_mask=state.exists[:, :A].clone(), dead_allies=dead[:, :A].sum(1), dead_enemies=dead[:, A:].sum(1),
    )
