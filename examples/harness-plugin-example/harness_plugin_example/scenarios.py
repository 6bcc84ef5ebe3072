"""``mipi_matrix_x20``: MIPI's two-type matrix game (the built-in ``mipi_matrix``) with every payoff
multiplied by 20, registered as a variant of the harness's matrix games.

The optimal joint actions, and so the win rates, are those of ``mipi_matrix``; only the size of the
rewards, and so of early TD errors, changes: the setting a Huber TD loss is meant for.
"""
from __future__ import annotations

from harness.envs.matrix import GAMES, MatrixGame, scenario_entry
from harness.envs.registry import ScenarioEntry

SCALE = 20.0
BASE = GAMES["mipi_matrix"]

GAME = MatrixGame(
    name="mipi_matrix_x20",
    payoffs={team: [[SCALE * v for v in row] for row in table] for team, table in BASE.payoffs.items()},
    default_teams=BASE.default_teams,
    types=BASE.types,
    description=f"{BASE.description}; payoffs x{SCALE:g} (plug-in variant)",
)

MIPI_MATRIX_X20: ScenarioEntry = scenario_entry(GAME)
