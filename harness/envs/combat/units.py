"""Unit figures of the combat simulator, as data: one row per unit type and two profiles.

``sc2`` holds the game's figures (mostly from SMAClite's unit files, the rest from the game's
published unit data); ``smax`` holds JaxMARL SMAX's figures so that the simulator can mirror SMAX.
docs/combat.md names the source of every figure.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

# Attack kinds: how a unit's attack resolves.
SINGLE, HEAL, LINE, EXPLODE = 0, 1, 2, 3

UNIT_TYPES: tuple[str, ...] = (
    "marine", "marauder", "medivac", "stalker", "zealot", "colossus", "zergling", "baneling", "hydralisk",
)
# Short codes used in composition labels such as "3s2z_vs_3s2z" (SMAC's letters where unambiguous).
UNIT_CODES: dict[str, str] = {
    "colossus": "c", "stalker": "s", "zealot": "z", "marine": "m", "marauder": "r", "medivac": "v",
    "zergling": "zg", "baneling": "b", "hydralisk": "h",
}


@dataclass(frozen=True)
class UnitStats:
    """One unit type's figures; times in game seconds, distances in world units."""

    health: float
    shield: float
    armour: float
    damage: float            # per hit (heal per second for HEAL units)
    hits: int                # hits per attack (zealot and colossus strike twice)
    bonus_light: float
    bonus_armoured: float
    attack_range: float
    sight_range: float
    cooldown: float
    speed: float
    radius: float
    light: bool = False
    armoured: bool = False
    air: bool = False
    kind: int = SINGLE
    splash: float = 0.0      # LINE: beam length; EXPLODE: blast radius
    splash_width: float = 0.0  # LINE: beam thickness
    energy: float = 0.0      # starting energy (Medivac)
    max_energy: float = 0.0
    regen: float = 0.0       # health regenerated per second, in and out of combat (Zerg)


# Regeneration (game data, Liquipedia): Zerg health 0.2734/s and Protoss shields 2/s after 10 s
# without damage, at Normal speed; the table's times are at Faster speed (x1.4), like SMAX's.
ZERG_REGEN = 0.2734 * 1.4
SHIELD_REGEN = 2.0 * 1.4
SHIELD_REGEN_DELAY = 10.0 / 1.4

SC2_UNITS: dict[str, UnitStats] = {
    "marine": UnitStats(45, 0, 0, 6, 1, 0, 0, 5, 9, 0.61, 3.15, 0.375, light=True),
    "marauder": UnitStats(125, 0, 1, 10, 1, 0, 10, 6, 10, 1.07, 3.15, 0.5625, armoured=True),
    "medivac": UnitStats(150, 0, 1, 9, 1, 0, 0, 4, 11, 0.0, 3.5, 0.75, armoured=True, air=True,
                         kind=HEAL, energy=50, max_energy=200),
    "stalker": UnitStats(80, 80, 1, 13, 1, 0, 5, 6, 10, 1.34, 4.13, 0.625, armoured=True),
    "zealot": UnitStats(100, 50, 1, 8, 2, 0, 0, 0.1, 9, 0.86, 3.15, 0.5, light=True),
    "colossus": UnitStats(200, 150, 1, 10, 2, 5, 0, 7, 10, 1.07, 3.15, 1.0, armoured=True,
                          kind=LINE, splash=2.8, splash_width=0.3),
    "zergling": UnitStats(35, 0, 0, 5, 1, 0, 0, 0.1, 8, 0.497, 4.13, 0.375, light=True, regen=ZERG_REGEN),
    "baneling": UnitStats(30, 0, 0, 16, 1, 19, 0, 0.25, 8, 1.0, 3.15, 0.375, kind=EXPLODE, splash=2.2,
                          regen=ZERG_REGEN),
    "hydralisk": UnitStats(90, 0, 0, 12, 1, 0, 0, 5, 9, 0.59, 3.15, 0.625, light=True, regen=ZERG_REGEN),
}

# SMAX's table (jaxmarl/environments/smax/smax_env.py defaults): no shields, armour or bonuses;
# stalker and zealot health include their shields; ranges are centre to centre.
SMAX_UNITS: dict[str, UnitStats] = {
    "marine": UnitStats(45, 0, 0, 9, 1, 0, 0, 5, 9, 0.61, 3.15, 0.375),
    "marauder": UnitStats(125, 0, 0, 10, 1, 0, 0, 6, 10, 1.07, 2.25, 0.5625),
    "stalker": UnitStats(160, 0, 0, 13, 1, 0, 0, 6, 10, 1.87, 4.13, 0.625),
    "zealot": UnitStats(150, 0, 0, 8, 1, 0, 0, 2, 9, 0.86, 3.15, 0.5),
    "zergling": UnitStats(35, 0, 0, 5, 1, 0, 0, 2, 8, 0.5, 4.13, 0.375),
    "hydralisk": UnitStats(80, 0, 0, 12, 1, 0, 0, 5, 9, 0.59, 3.15, 0.625),
}

PROFILES: dict[str, dict[str, UnitStats]] = {"sc2": SC2_UNITS, "smax": SMAX_UNITS}


def unit_index(name: str) -> int:
    """The type id of ``name``; an unknown name lists the valid ones."""
    if name not in UNIT_TYPES:
        raise ValueError(f"unknown unit type {name!r}; valid unit types: {', '.join(UNIT_TYPES)}")
    return UNIT_TYPES.index(name)


def check_profile(profile: str, types: tuple[str, ...]) -> None:
    """Raise ValueError if ``profile`` is unknown or lacks one of ``types``."""
    if profile not in PROFILES:
        raise ValueError(f"unknown unit profile {profile!r}; allowed: {', '.join(PROFILES)}")
    missing = [t for t in types if t not in PROFILES[profile]]
    if missing:
        raise ValueError(
            f"unit profile {profile!r} has no {', '.join(missing)}; it has: {', '.join(PROFILES[profile])}"
        )


class UnitTable:
    """The figures of every unit type as tensors ``[T]`` on one device, indexed by type id.

    Types absent from a profile get zero rows (they can never be spawned under it).
    """

    def __init__(self, profile: str, device: torch.device):
        check_profile(profile, ())
        rows = PROFILES[profile]
        zero = UnitStats(0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)
        for f in fields(UnitStats):
            values = [getattr(rows.get(name, zero), f.name) for name in UNIT_TYPES]
            dtype = torch.bool if f.type in ("bool", bool) else (
                torch.long if f.name in ("hits", "kind") else torch.float32)
            setattr(self, f.name, torch.tensor(values, dtype=dtype, device=device))  # [T]
        self.profile = profile
        self.present = tuple(name in rows for name in UNIT_TYPES)
