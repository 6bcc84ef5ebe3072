"""The scenarios as data: SMAC maps (fixed teams) and multi-task composition sets (unit groups).

Unit counts and episode limits of the maps are SMAC's (smac/env/starcraft2/maps/smac_maps.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.envs.combat.units import UNIT_TYPES

Team = tuple[tuple[str, int], ...]  # ((unit type, count), ...)


@dataclass(frozen=True)
class MapSpec:
    """A SMAC map: fixed ally and enemy teams and SMAC's episode limit."""

    name: str
    allies: Team
    enemies: Team
    episode_limit: int
    difficulty: str = ""     # SMAC's Easy / Hard / Super-Hard grouping where it has one
    map_size: float = 32.0


@dataclass(frozen=True)
class SetSpec:
    """A multi-task set: the unit types it draws from, per-type count ranges and the agent range.

    ``agents`` is the widest allowed range of team sizes; a CompositionSpec narrows it.
    Enemies mirror the allied team unless a spec asks for an enemy range.
    """

    name: str
    units: tuple[tuple[str, tuple[int, int]], ...]
    agents: tuple[int, int]
    default_agents: tuple[int, int]
    episode_limit: int
    description: str
    map_size: float = 32.0

    @property
    def unit_types(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.units)


def _t(*pairs) -> Team:
    return tuple(pairs)


MAPS: dict[str, MapSpec] = {m.name: m for m in (
    MapSpec("3m", _t(("marine", 3)), _t(("marine", 3)), 60, "Easy"),
    MapSpec("8m", _t(("marine", 8)), _t(("marine", 8)), 120, "Easy"),
    MapSpec("2s3z", _t(("stalker", 2), ("zealot", 3)), _t(("stalker", 2), ("zealot", 3)), 120, "Easy"),
    MapSpec("3s5z", _t(("stalker", 3), ("zealot", 5)), _t(("stalker", 3), ("zealot", 5)), 150, "Easy"),
    MapSpec("1c3s5z", _t(("colossus", 1), ("stalker", 3), ("zealot", 5)),
            _t(("colossus", 1), ("stalker", 3), ("zealot", 5)), 180, "Easy"),
    MapSpec("MMM", _t(("medivac", 1), ("marauder", 2), ("marine", 7)),
            _t(("medivac", 1), ("marauder", 2), ("marine", 7)), 150, "Easy"),
    MapSpec("2m_vs_1z", _t(("marine", 2)), _t(("zealot", 1)), 150, "Easy"),
    MapSpec("3s_vs_3z", _t(("stalker", 3)), _t(("zealot", 3)), 150, "Hard"),
    MapSpec("3s_vs_4z", _t(("stalker", 3)), _t(("zealot", 4)), 200, "Hard"),
    MapSpec("3s_vs_5z", _t(("stalker", 3)), _t(("zealot", 5)), 250, "Hard"),
    MapSpec("5m_vs_6m", _t(("marine", 5)), _t(("marine", 6)), 70, "Hard"),
    MapSpec("8m_vs_9m", _t(("marine", 8)), _t(("marine", 9)), 120, "Hard"),
    MapSpec("10m_vs_11m", _t(("marine", 10)), _t(("marine", 11)), 150, "Hard"),
    MapSpec("25m", _t(("marine", 25)), _t(("marine", 25)), 150, "Hard", 40.0),
    MapSpec("bane_vs_bane", _t(("zergling", 20), ("baneling", 4)), _t(("zergling", 20), ("baneling", 4)),
            200, "Hard", 40.0),
    MapSpec("so_many_baneling", _t(("zealot", 7)), _t(("baneling", 32)), 100, "Hard", 40.0),
    MapSpec("27m_vs_30m", _t(("marine", 27)), _t(("marine", 30)), 180, "Super-Hard", 40.0),
    MapSpec("MMM2", _t(("medivac", 1), ("marauder", 2), ("marine", 7)),
            _t(("medivac", 1), ("marauder", 3), ("marine", 8)), 180, "Super-Hard"),
    MapSpec("3s5z_vs_3s6z", _t(("stalker", 3), ("zealot", 5)), _t(("stalker", 3), ("zealot", 6)), 170,
            "Super-Hard"),
    MapSpec("corridor", _t(("zealot", 6)), _t(("zergling", 24)), 400, "Super-Hard", 40.0),
    MapSpec("6h_vs_8z", _t(("hydralisk", 6)), _t(("zealot", 8)), 150, "Super-Hard"),
    MapSpec("2c_vs_64zg", _t(("colossus", 2)), _t(("zergling", 64)), 400, "Super-Hard", 40.0),
)}

# SMAC maps the simulator cannot express, and why.
INEXPRESSIBLE: dict[str, str] = {
    "2s_vs_1sc": "the enemy is a Spine Crawler (a static Zerg building); the unit set has no structures",
}

_SZ_UNITS = (("stalker", (0, 11)), ("zealot", (0, 11)))
_CSZ_UNITS = (("colossus", (0, 2)), ("stalker", (0, 11)), ("zealot", (0, 11)))
_MMM_UNITS = (("medivac", (0, 2)), ("marauder", (0, 11)), ("marine", (1, 11)))
SETS: dict[str, SetSpec] = {s.name: s for s in (
    SetSpec("3-8sz", _SZ_UNITS, (3, 8), (3, 8), 150, "REFIL: 3-8 stalkers and zealots per side"),
    SetSpec("3-8MMM", _MMM_UNITS, (3, 8), (3, 8), 150, "REFIL: 3-8 marines, marauders and medivacs"),
    SetSpec("3-8csz", _CSZ_UNITS, (3, 8), (3, 8), 150, "REFIL: 3-8 colossi, stalkers and zealots"),
    SetSpec("5-11sz", _SZ_UNITS, (5, 11), (5, 11), 150, "OPT: 5-11 stalkers and zealots per side"),
    SetSpec("5-11MMM", _MMM_UNITS, (5, 11), (5, 11), 150, "OPT: 5-11 marines, marauders and medivacs"),
    SetSpec("5-11csz", _CSZ_UNITS, (5, 11), (5, 11), 150, "OPT: 5-11 colossi, stalkers and zealots"),
    SetSpec("SZ", _SZ_UNITS, (3, 8), (3, 5), 150, "MIPI: stalkers and zealots; train 3-5, evaluate 6, 7, 8"),
    SetSpec("CSZ", _CSZ_UNITS, (3, 8), (3, 5), 150, "MIPI: colossi, stalkers, zealots; train 3-5, evaluate 6-8"),
    SetSpec("MMM-set", _MMM_UNITS, (3, 8), (3, 5), 150, "MIPI's MMM set (SMAC's MMM is the map): marines, marauders, medivacs; train 3-5, evaluate 6-8"),
)}

for _m in MAPS.values():
    for _name, _ in _m.allies + _m.enemies:
        assert _name in UNIT_TYPES, _name
