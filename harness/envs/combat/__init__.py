"""Embedded combat simulator: StarCraft-free, batched in torch (results are labelled "combat", never SMAC).

Importing this package registers every expressible SMAC map and every multi-task set.
"""
from __future__ import annotations

from dataclasses import fields, replace

from harness.envs.combat.env import SIMULATOR_VERSION, CombatEnv
from harness.envs.combat.generators import Composition
from harness.envs.combat.maps import MAPS, SETS
from harness.envs.combat.mechanics import Rules
from harness.envs.combat.scenarios import composition_labels, make_env, validate
from harness.envs.registry import ScenarioEntry, register

__all__ = ["CombatEnv", "Composition", "Rules", "make_env", "MAPS", "SETS", "SIMULATOR_VERSION"]


def _factory(name, *, batch_size, device, seed, composition, cover, autoreset, options=None, entity_view=True):
    opts = dict(options or {})
    compile_ = bool(opts.pop("compile", False))
    preset = opts.pop("rules", "sc2")
    if preset not in ("sc2", "smax"):
        raise ValueError(f"combat option rules must be 'sc2' or 'smax', got {preset!r}")
    allowed = {f.name for f in fields(Rules)}
    unknown = sorted(set(opts) - allowed)
    if unknown:
        raise ValueError(f"unknown combat option(s) {', '.join(unknown)}; allowed: compile, rules, "
                         f"{', '.join(sorted(allowed))}")
    rules = Rules.smax(**opts) if preset == "smax" else replace(Rules(), **opts)
    return make_env(name, batch_size=batch_size, device=device, seed=seed, composition=composition,
                    cover=cover, autoreset=autoreset, rules=rules, compile=compile_, entity_view=entity_view)


_ACCEPTS = frozenset({"options", "entity_view"})
for _m in MAPS.values():
    register(ScenarioEntry(name=_m.name, family="combat", factory=_factory, validate_composition=validate,
                           enumerate_compositions=composition_labels, starcraft_map=True, accepts=_ACCEPTS,
                           episode_limit=_m.episode_limit,
                           description=f"SMAC map {_m.name} ({_m.difficulty}), combat simulator"))
for _s in SETS.values():
    register(ScenarioEntry(name=_s.name, family="combat", factory=_factory, validate_composition=validate,
                           enumerate_compositions=composition_labels, accepts=_ACCEPTS,
                           episode_limit=_s.episode_limit,
                           description=f"{_s.description} (combat simulator)"))
