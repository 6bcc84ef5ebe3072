"""Embedded combat simulator: StarCraft-free, batched in torch (results are labelled "combat", never SMAC).

Importing this package registers every expressible SMAC map and every multi-task set.
"""
from __future__ import annotations

from harness.envs.combat.env import SIMULATOR_VERSION, CombatEnv
from harness.envs.combat.generators import Composition
from harness.envs.combat.maps import MAPS, SETS
from harness.envs.combat.mechanics import Rules
from harness.envs.combat.scenarios import make_env, validate
from harness.envs.registry import ScenarioEntry, register

__all__ = ["CombatEnv", "Composition", "Rules", "make_env", "MAPS", "SETS", "SIMULATOR_VERSION"]


def _factory(name, *, batch_size, device, seed, composition, cover, autoreset):
    return make_env(name, batch_size=batch_size, device=device, seed=seed, composition=composition,
                    cover=cover, autoreset=autoreset)


for _m in MAPS.values():
    register(ScenarioEntry(name=_m.name, family="combat", factory=_factory, validate_composition=validate,
                           starcraft_map=True, description=f"SMAC map {_m.name} ({_m.difficulty}), combat simulator"))
for _s in SETS.values():
    register(ScenarioEntry(name=_s.name, family="combat", factory=_factory, validate_composition=validate,
                           description=f"{_s.description} (combat simulator)"))
