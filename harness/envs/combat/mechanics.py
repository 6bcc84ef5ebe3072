"""World physics of the combat simulator: one world tick for B battles as batched tensor ops.

Units live in slots ``[B, U]`` (allies first, then enemies). A tick resolves attacks and heals from
the positions at the start of the tick, moves units, applies damage (shields first), kills units
with no health left and pushes overlapping units apart, the same order as JaxMARL's SMAX.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from harness.envs.combat.units import EXPLODE, HEAL, LINE, SHIELD_REGEN, SHIELD_REGEN_DELAY, UnitTable

N_MOVE = 6  # SMAC's layout: 0 no-op, 1 stop, 2 north, 3 south, 4 east, 5 west, 6+ target slot
HEAL_PER_ENERGY = 3.0        # SMAClite: hit points healed per energy point
ENERGY_PER_SECOND = 0.5625   # SMAClite: Medivac energy regeneration


@dataclass(frozen=True)
class Rules:
    """How the world behaves; ``Rules.smax()`` mirrors JaxMARL's SMAX for the units it has."""

    profile: str = "sc2"          # unit figures: "sc2" (game data) or "smax" (SMAX's table)
    ticks_per_step: int = 8       # world ticks per agent step (SMAX: 8)
    tick_seconds: float = 1 / 16  # game seconds per tick (SMAX: 1/16)
    cooldown_jitter: bool = True  # new cooldown += U(-dt, 2dt), SMAX's model of SC2's randomness
    walls_kill: bool = False      # SMAX kills units touching the map border
    edge_ranges: bool = True      # attack range measured between unit edges (SC2) or centres (SMAX)
    air_collides: bool = False    # whether air units (Medivac) take part in collision separation
    smax_directions: bool = False  # movement unit vectors computed with SMAX's float32 rotation
    chase_targets: bool = True    # scripted units chase a kept target out of range while they see it (SC2)
    regeneration: bool = True     # Zerg health and (after a calm spell) Protoss shields regenerate (SC2)

    @staticmethod
    def smax(**overrides) -> "Rules":
        """SMAX-compatible mechanics (figures, ranges, walls, directions)."""
        base = Rules(profile="smax", walls_kill=True, edge_ranges=False, air_collides=True,
                     smax_directions=True, chase_targets=False, regeneration=False)
        return replace(base, **overrides)


def direction_table(rules: Rules, device: torch.device) -> torch.Tensor:
    """Unit movement vector of each move action ``[N_MOVE, 2]`` (zero for no-op and stop)."""
    table = torch.zeros(N_MOVE, 2, dtype=torch.float32)
    if rules.smax_directions:
        # SMAX encodes N/E/S/W as diagonals rotated by 45 degrees; reproduce its float32 rounding.
        s = torch.tensor(1.0, dtype=torch.float32) / torch.sqrt(torch.tensor(2.0, dtype=torch.float32))
        rot = torch.stack([torch.stack([s, -s]), torch.stack([s, s])])  # [2, 2]
        for ours, theirs in ((2, 0), (4, 1), (3, 2), (5, 3)):  # N, E, S, W in SMAX's order
            vec = torch.stack([(-1) ** (theirs // 2) * s, (-1) ** (theirs // 2 + theirs % 2) * s])
            table[ours] = rot @ vec
    else:
        table[2], table[3], table[4], table[5] = (torch.tensor(v, dtype=torch.float32) for v in
                                                  ((0, 1), (0, -1), (1, 0), (-1, 0)))
    return table.to(device)


def batch_where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per battle: ``a`` where ``mask [B]`` is True, else ``b`` (tensors ``[B, ...]``)."""
    return torch.where(mask.view(-1, *([1] * (a.dim() - 1))), a, b)


@dataclass
class BattleState:
    """Every tensor of B battles; per-unit stats are gathered from the unit table at reset."""

    pos: torch.Tensor          # [B, U, 2]
    health: torch.Tensor       # [B, U]
    shield: torch.Tensor       # [B, U]
    energy: torch.Tensor       # [B, U]
    cooldown: torch.Tensor     # [B, U]
    utype: torch.Tensor        # [B, U] long (0 in empty slots)
    exists: torch.Tensor       # [B, U] bool: slot holds a unit this episode
    alive: torch.Tensor        # [B, U] bool
    last_action: torch.Tensor  # [B, U] long: last action in SMAC's layout
    attack_target: torch.Tensor  # [B, U] long: unit attacked or healed in the last step, -1 if none
    memory: torch.Tensor       # [B, U] long: scripted policy's kept target, -1 if none
    home: torch.Tensor         # [B, U, 2]: where a scripted unit heads when it sees nobody
    t: torch.Tensor            # [B] long: agent steps taken
    calm: torch.Tensor         # [B, U]: seconds since the unit last lost health or shield
    # per-unit stats [B, U], gathered once per episode
    max_health: torch.Tensor
    max_shield: torch.Tensor
    max_energy: torch.Tensor
    armour: torch.Tensor
    damage: torch.Tensor
    hits: torch.Tensor
    bonus_light: torch.Tensor
    bonus_armoured: torch.Tensor
    attack_range: torch.Tensor
    sight_range: torch.Tensor
    max_cooldown: torch.Tensor
    speed: torch.Tensor
    radius: torch.Tensor
    light: torch.Tensor
    armoured: torch.Tensor
    air: torch.Tensor
    kind: torch.Tensor
    splash: torch.Tensor
    splash_width: torch.Tensor
    regen: torch.Tensor

    def where(self, mask: torch.Tensor, other: "BattleState", names: tuple[str, ...] | None = None) -> "BattleState":
        """Per battle: this state where ``mask [B]`` is True, else ``other`` (only ``names`` if given;
        the other fields are taken from this state)."""
        out = {}
        for f in fields(self):
            a = getattr(self, f.name)
            if names is None or f.name in names:
                a = batch_where(mask, a, getattr(other, f.name))
            out[f.name] = a
        return BattleState(**out)


# Fields a step changes; the rest are fixed for the episode.
DYNAMIC_FIELDS = ("pos", "health", "shield", "energy", "cooldown", "alive", "last_action", "attack_target",
                  "memory", "t", "calm")


def new_state(utype: torch.Tensor, pos: torch.Tensor, table: UnitTable, home: torch.Tensor) -> BattleState:
    """A fresh battle state for unit types ``utype [B, U]`` (-1 = empty) at positions ``pos``."""
    exists = utype >= 0  # [B, U]
    ut = utype.clamp(min=0)
    g = {name: getattr(table, name)[ut] for name in (
        "health", "shield", "max_energy", "armour", "damage", "hits", "bonus_light", "bonus_armoured",
        "attack_range", "sight_range", "cooldown", "speed", "radius", "light", "armoured", "air", "kind",
        "splash", "splash_width", "energy", "regen")}  # each [B, U]
    zf = torch.zeros_like(g["health"])
    health = torch.where(exists, g["health"], zf)
    shield = torch.where(exists, g["shield"], zf)
    minus = torch.full_like(ut, -1)
    return BattleState(
        pos=pos.to(torch.float32), health=health, shield=shield, energy=torch.where(exists, g["energy"], zf),
        cooldown=zf.clone(), utype=ut, exists=exists, alive=exists.clone(), last_action=torch.zeros_like(ut),
        attack_target=minus, memory=minus.clone(), home=home, t=torch.zeros(ut.shape[0], dtype=torch.long,
                                                                             device=ut.device),
        calm=zf.clone(),
        max_health=g["health"], max_shield=g["shield"], max_energy=g["max_energy"], armour=g["armour"],
        damage=g["damage"], hits=g["hits"].to(torch.float32), bonus_light=g["bonus_light"],
        bonus_armoured=g["bonus_armoured"], attack_range=g["attack_range"], sight_range=g["sight_range"],
        max_cooldown=g["cooldown"], speed=g["speed"], radius=g["radius"], light=g["light"],
        armoured=g["armoured"], air=g["air"], kind=g["kind"], splash=g["splash"], splash_width=g["splash_width"],
        regen=g["regen"],
    )


def pairwise(pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets ``p_j - p_i`` ``[B, U, U, 2]`` and distances ``[B, U, U]``."""
    delta = pos[:, None, :, :] - pos[:, :, None, :]  # [B, U, U, 2]
    return delta, torch.linalg.vector_norm(delta, dim=-1)


def reach(state: BattleState, rules: Rules) -> torch.Tensor:
    """Centre distance below which unit i can hit unit j ``[B, U, U]``."""
    r = state.attack_range[:, :, None]  # [B, U, 1]
    if rules.edge_ranges:
        r = r + state.radius[:, :, None] + state.radius[:, None, :]
    return r


def push_apart(state: BattleState, rules: Rules) -> torch.Tensor:
    """SMAX's collision step: each pair of overlapping live ground units moves apart by half its overlap:
    ``p_i += sum_j (p_i - p_j) * relu((r_i + r_j) / |p_i - p_j| - 1) / 2`` (x and y kept apart for speed).
    """
    U = state.pos.shape[1]
    mover = state.alive if rules.air_collides else state.alive & ~state.air  # [B, U]
    pair = mover[:, :, None] & mover[:, None, :]  # [B, U, U]
    x, y = state.pos[..., 0], state.pos[..., 1]  # [B, U]
    dx = x[:, :, None] - x[:, None, :]  # [B, U, U]: x_i - x_j
    dy = y[:, :, None] - y[:, None, :]
    dist = torch.sqrt(dx * dx + dy * dy) + (torch.eye(U, device=dx.device) + 1e-6)
    radii = state.radius[:, :, None] + state.radius[:, None, :]
    overlap = torch.where(pair, torch.relu(radii / dist - 1.0), 0.0)  # [B, U, U]
    shift = torch.stack([(dx * overlap).sum(-1), (dy * overlap).sum(-1)], dim=-1)  # [B, U, 2]
    return torch.where(state.alive[..., None], state.pos + shift / 2, state.pos)


def _segment_distance(p: torch.Tensor, centre: torch.Tensor, direction: torch.Tensor, half: torch.Tensor):
    """Distance from points ``p [B, U, U, 2]`` to segments (centre ± half * direction) per attacker."""
    rel = p - centre[:, :, None, :]  # [B, U, U, 2]
    proj = (rel * direction[:, :, None, :]).sum(-1)  # [B, U, U]
    proj = torch.maximum(torch.minimum(proj, half[:, :, None]), -half[:, :, None])
    closest = centre[:, :, None, :] + proj[..., None] * direction[:, :, None, :]
    return torch.linalg.vector_norm(p - closest, dim=-1)


@dataclass
class Orders:
    """One agent step's orders, resolved once and reused by every tick of the step."""

    move: torch.Tensor       # [B, U, 2] unit vectors scaled by speed * dt (zero when standing)
    target: torch.Tensor     # [B, U] long: target slot (0 when none; see attack/heal)
    reach: torch.Tensor      # [B, U]: centre distance below which the target can be hit
    attack: torch.Tensor     # [B, U] bool: ordered to attack an enemy
    heal: torch.Tensor       # [B, U] bool: ordered to heal a friend
    hit: torch.Tensor        # [B, U]: damage per hit on the target before armour
    armour: torch.Tensor     # [B, U]: the target's armour
    pair_hit: torch.Tensor | None  # [B, U, U]: damage per hit of i on j before armour (splash only)


def plan_orders(state: BattleState, move: torch.Tensor, target: torch.Tensor, team: torch.Tensor,
                rules: Rules, splash: bool) -> Orders:
    """Resolve ``move [B, U, 2]`` unit vectors and ``target [B, U]`` slots (-1 none) into Orders."""
    U = target.shape[1]
    has = target >= 0
    tgt = target.clamp(min=0)  # [B, U]
    not_self = tgt != torch.arange(U, device=target.device)
    same_team = team[tgt] == team  # [B, U]
    is_heal = state.kind == HEAL
    reach_t = state.attack_range
    if rules.edge_ranges:
        reach_t = reach_t + state.radius + torch.gather(state.radius, 1, tgt)
    light_t = torch.gather(state.light, 1, tgt)
    armoured_t = torch.gather(state.armoured, 1, tgt)
    hit = state.damage + state.bonus_light * light_t + state.bonus_armoured * armoured_t
    pair_hit = None
    if splash:
        pair_hit = (state.damage[:, :, None] + state.bonus_light[:, :, None] * state.light[:, None, :]
                    + state.bonus_armoured[:, :, None] * state.armoured[:, None, :])  # [B, U, U]
    return Orders(move=move * (state.speed * rules.tick_seconds)[..., None], target=tgt, reach=reach_t,
                  attack=has & not_self & ~is_heal & ~same_team, heal=has & not_self & is_heal & same_team,
                  hit=hit, armour=torch.gather(state.armour, 1, tgt), pair_hit=pair_hit)


def world_tick(state: BattleState, orders: Orders, team: torch.Tensor, rules: Rules, map_size: float,
               splash_kinds: tuple[bool, bool], heals: bool,
               jitter: torch.Tensor | None) -> tuple[BattleState, torch.Tensor]:
    """Advance every battle by one tick under ``orders``; ``team [U]`` is 0/1; ``jitter [B, U]`` is
    U(0, 1) noise for the cooldown jitter (None when the rules have none).

    Returns the new state and the slot each unit attacked or healed this tick ``[B, U]`` (-1 none).
    """
    dt = rules.tick_seconds
    B, U = orders.target.shape
    tgt = orders.target
    tpos = torch.gather(state.pos, 1, tgt[..., None].expand(B, U, 2))  # [B, U, 2]
    dist = torch.linalg.vector_norm(state.pos - tpos, dim=-1)  # [B, U]
    ready = state.alive & torch.gather(state.alive, 1, tgt) & (dist < orders.reach) & (state.cooldown <= 0.0)
    attack = orders.attack & ready  # [B, U]
    if heals:
        heal = (orders.heal & ready & (state.energy > 0)
                & (torch.gather(state.health, 1, tgt) < torch.gather(state.max_health, 1, tgt)))
    else:
        heal = torch.zeros_like(attack)

    # movement from the start-of-tick positions (attacking units carry a zero move vector)
    new_pos = (state.pos + orders.move).clamp(0.0, map_size)
    new_pos = torch.where(state.alive[..., None], new_pos, state.pos)

    # damage (shields first; armour only against unshielded targets), single target or splash
    line, explode = splash_kinds
    if line or explode:
        hit = torch.nn.functional.one_hot(tgt, U).to(torch.bool) & attack[..., None]  # [B, U, U]: i strikes j
        enemy_alive = (team[None, :, None] != team[None, None, :]) & state.alive[:, None, :]  # [B, U, U]
        if line:
            is_line = attack & (state.kind == LINE)
            direction = tpos - state.pos
            direction = direction / torch.linalg.vector_norm(direction, dim=-1, keepdim=True).clamp(min=1e-6)
            beam = torch.stack([-direction[..., 1], direction[..., 0]], dim=-1)  # perpendicular to the shot
            pts = state.pos[:, None, :, :].expand(B, U, U, 2)
            d_beam = _segment_distance(pts, tpos, beam, state.splash / 2)
            in_beam = d_beam <= state.splash_width[..., None] / 2 + state.radius[:, None, :]
            hit = hit | (is_line[..., None] & enemy_alive & in_beam)
        if explode:
            is_bomb = attack & (state.kind == EXPLODE)
            _, d_all = pairwise(state.pos)
            in_blast = d_all <= state.splash[..., None] + state.radius[:, None, :]
            hit = hit | (is_bomb[..., None] & enemy_alive & in_blast)
        per_hit = orders.pair_hit - state.armour[:, None, :] * (state.shield[:, None, :] <= 0)  # [B, U, U]
        per_hit = per_hit.clamp(min=0.5) * state.hits[:, :, None]
        total = (hit * per_hit).sum(dim=1)  # [B, U]
    else:
        unshielded = torch.gather(state.shield, 1, tgt) <= 0
        per_hit = (orders.hit - orders.armour * unshielded).clamp(min=0.5) * state.hits
        total = torch.zeros_like(state.health).scatter_add(1, tgt, per_hit * attack)  # [B, U]
    absorbed = torch.minimum(state.shield, total)
    shield = state.shield - absorbed
    health = (state.health - (total - absorbed)).clamp(min=0.0)
    if explode:
        health = torch.where(attack & (state.kind == EXPLODE), torch.zeros_like(health), health)
    energy = state.energy
    if heals:
        amount = torch.minimum(state.damage * dt, energy * HEAL_PER_ENERGY)
        amount = torch.where(heal, amount, torch.zeros_like(amount))  # [B, U]
        received = torch.zeros_like(health).scatter_add(1, tgt, amount)
        health = torch.where(health > 0, torch.minimum(health + received, state.max_health), health)
        energy = (energy - amount / HEAL_PER_ENERGY + ENERGY_PER_SECOND * dt).clamp(max=state.max_energy)

    # regeneration: Zerg health always, shields once a unit has taken no damage for a while
    calm = torch.where(total > 0, torch.zeros_like(state.calm), state.calm + dt)
    if rules.regeneration:
        health = torch.where(health > 0, torch.minimum(health + state.regen * dt, state.max_health), health)
        recharge = (calm >= SHIELD_REGEN_DELAY) & (health > 0)
        shield = torch.where(recharge, torch.minimum(shield + SHIELD_REGEN * dt, state.max_shield), shield)

    # cooldowns: a unit that fired restarts its cooldown, the others count down
    fired = attack | heal
    new_cd = state.max_cooldown
    if jitter is not None:
        new_cd = new_cd + (jitter * 3 - 1) * dt  # U(-dt, 2dt), SMAX's model of SC2's randomness
    cooldown = state.cooldown + torch.where(fired, new_cd - state.cooldown, -dt)

    if rules.walls_kill:
        touching = ((new_pos <= 0.0) | (new_pos >= map_size)).any(dim=-1)
        health = torch.where(touching, 0.0, health)
    alive = (health > 0) & state.exists
    out = replace(state, pos=new_pos, health=health, shield=shield, energy=energy, cooldown=cooldown,
                  alive=alive, calm=calm)
    pushed = push_apart(out, rules)
    if not rules.walls_kill:
        lo = out.radius[..., None]
        pushed = torch.maximum(torch.minimum(pushed, map_size - lo), lo)
        pushed = torch.where(alive[..., None], pushed, out.pos)
    out.pos = pushed
    return out, torch.where(fired, tgt, -1)


def advance(state: BattleState, orders: Orders, team: torch.Tensor, rules: Rules, map_size: float,
            splash_kinds: tuple[bool, bool], heals: bool,
            noise: torch.Tensor | None) -> tuple[BattleState, torch.Tensor]:
    """One agent step: ``rules.ticks_per_step`` world ticks under the same orders.

    ``noise [T, B, U]`` feeds the cooldown jitter (None without). Returns the new state and, per
    unit, the last slot it attacked or healed during the step ``[B, U]`` (-1 none).
    """
    struck = torch.full_like(orders.target, -1)
    for k in range(rules.ticks_per_step):
        state, hit = world_tick(state, orders, team, rules, map_size, splash_kinds, heals,
                                None if noise is None else noise[k])
        struck = torch.where(hit >= 0, hit, struck)
    return state, struck
