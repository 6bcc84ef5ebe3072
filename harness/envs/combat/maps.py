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


Group = tuple[tuple[str, ...], tuple[int, int]]  # (unit types, (lo, hi) units of those types in total)


@dataclass(frozen=True)
class SetSpec:
    """A multi-task set (REFIL-style): unit groups, each with a count range, and the agent range.

    A team takes a count inside each group's range and splits it among the group's types in every
    possible way; ``agents`` bounds the team size and ``default_agents`` is the training range when
    a spec does not say. Enemies mirror the allied team unless a spec asks for an enemy range.
    """

    name: str
    groups: tuple[Group, ...]
    agents: tuple[int, int]
    default_agents: tuple[int, int]
    episode_limit: int
    description: str
    map_size: float = 32.0

    @property
    def unit_types(self) -> tuple[str, ...]:
        return tuple(t for types, _ in self.groups for t in types)


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

# Group ranges reproduce the task counts OPT reports: 3-8sz 39 tasks, 3-8MMM and 3-8csz 66 each,
# 5-11sz 63, 5-11csz and 5-11MMM 120 (two mirrored teams per task).
_SZ = ("stalker", "zealot")
_MM = ("marine", "marauder")
SETS: dict[str, SetSpec] = {s.name: s for s in (
    SetSpec("3-8sz", ((_SZ, (3, 8)),), (3, 8), (3, 8), 150, "REFIL: 3-8 stalkers/zealots per side (39 tasks)"),
    SetSpec("3-8MMM", ((_MM, (3, 6)), (("medivac",), (0, 2))), (3, 8), (3, 8), 150,
            "REFIL: 3-6 marines/marauders and 0-2 medivacs per side (66 tasks)"),
    SetSpec("3-8csz", ((_SZ, (3, 6)), (("colossus",), (0, 2))), (3, 8), (3, 8), 150,
            "REFIL: 3-6 stalkers/zealots and 0-2 colossi per side (66 tasks)"),
    SetSpec("5-11sz", ((_SZ, (5, 11)),), (5, 11), (5, 11), 150, "OPT: 5-11 stalkers/zealots per side (63 tasks)"),
    SetSpec("5-11MMM", ((_MM, (5, 8)), (("medivac",), (0, 3))), (5, 11), (5, 11), 150,
            "OPT: 5-8 marines/marauders and 0-3 medivacs per side (120 tasks)"),
    SetSpec("5-11csz", ((_SZ, (5, 8)), (("colossus",), (0, 3))), (5, 11), (5, 11), 150,
            "OPT: 5-8 stalkers/zealots and 0-3 colossi per side (120 tasks)"),
    SetSpec("SZ", ((_SZ, (3, 8)),), (3, 8), (3, 5), 150,
            "MIPI: stalkers/zealots, equal enemies; train 3-5 agents, evaluate 6, 7, 8"),
    SetSpec("CSZ", ((_SZ, (1, 8)), (("colossus",), (0, 2))), (3, 8), (3, 5), 150,
            "MIPI: stalkers/zealots and up to 2 colossi, equal enemies; train 3-5 agents, evaluate 6, 7, 8"),
    SetSpec("MMM-set", ((_MM, (1, 8)), (("medivac",), (0, 2))), (3, 8), (3, 5), 150,
            "MIPI's MMM set (SMAC's MMM is the map): marines/marauders and up to 2 medivacs; train 3-5, evaluate 6-8"),
)}

for _m in MAPS.values():
    for _name, _ in _m.allies + _m.enemies:
        assert _name in UNIT_TYPES, _name
