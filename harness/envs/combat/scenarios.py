"""From a scenario name and a CompositionSpec to a composition generator, its padding and a CombatEnv."""
from __future__ import annotations

from typing import Sequence

import torch

from harness.envs.base import CompositionSpec, covering_range
from harness.envs.combat.env import CombatEnv
from harness.envs.combat.generators import (Composition, CompositionGenerator, WeightedGenerator,
                                            ranged_generator)
from harness.envs.combat.maps import INEXPRESSIBLE, MAPS, SETS, MapSpec, SetSpec
from harness.envs.combat.mechanics import Rules


def lookup(name: str) -> MapSpec | SetSpec:
    """The map or set called ``name``; an unknown name lists the valid ones."""
    if name in MAPS:
        return MAPS[name]
    if name in SETS:
        return SETS[name]
    if name in INEXPRESSIBLE:
        raise ValueError(f"combat simulator cannot express map {name!r}: {INEXPRESSIBLE[name]}")
    raise ValueError(f"unknown combat scenario {name!r}; maps: {', '.join(MAPS)}; sets: {', '.join(SETS)}")


def unit_types(name: str) -> tuple[str, ...]:
    """Every unit type that scenario ``name`` can field, in first-seen order."""
    scen = lookup(name)
    if isinstance(scen, MapSpec):
        return tuple(dict.fromkeys(t for t, _ in scen.allies + scen.enemies))
    return scen.unit_types


def _empty(spec: CompositionSpec | None) -> bool:
    return spec is None or all(v is None for v in (spec.agents, spec.enemies, spec.units, spec.weights, spec.teams))


def _check_range(name: str, key: str, value, allowed: tuple[int, int]) -> None:
    if (not isinstance(value, tuple) or len(value) != 2 or not all(isinstance(v, int) for v in value)
            or value[0] > value[1] or value[0] < allowed[0] or value[1] > allowed[1]):
        raise ValueError(f"scenario {name!r}: {key}={value!r} is not allowed; "
                         f"allowed: a (lo, hi) range inside {allowed[0]}..{allowed[1]}")


def validate(name: str, spec: CompositionSpec | None) -> None:
    """Raise ValueError naming what is allowed if ``spec`` does not fit scenario ``name``."""
    build_generator(name, spec)


def composition_labels(name: str, spec: CompositionSpec | None) -> list[str]:
    """The label of every composition ``spec`` can draw on ``name`` (``3s2z_vs_3s2z``), as episodes record them."""
    return [c.label for c in build_generator(name, spec).enumerate()]


def build_generator(name: str, spec: CompositionSpec | None):
    """The composition generator for ``name`` narrowed by ``spec``."""
    scen = lookup(name)
    if isinstance(scen, MapSpec):
        if not _empty(spec):
            raise ValueError(f"map {name!r} has fixed teams ({_team_text(scen.allies)} vs {_team_text(scen.enemies)});"
                             f" composition specs apply to the sets: {', '.join(SETS)}")
        allies = tuple(t for t, c in scen.allies for _ in range(c))
        enemies = tuple(t for t, c in scen.enemies for _ in range(c))
        return CompositionGenerator([Composition(allies, enemies)])
    spec = spec or CompositionSpec()
    allowed_types = scen.unit_types
    agents = spec.agents if spec.agents is not None else scen.default_agents
    _check_range(name, "agents", agents, scen.agents)
    enemies = spec.enemies
    if enemies is not None:
        _check_range(name, "enemies", enemies, (1, 2 * scen.agents[1]))
    picked = [x for x in (spec.units, spec.weights, spec.teams) if x is not None]
    if len(picked) > 1:
        raise ValueError(f"scenario {name!r}: give only one of units, weights, teams")
    if spec.weights is not None:
        _check_names(name, "weights", [t for t, _ in spec.weights], allowed_types)
        if any(w < 0 for _, w in spec.weights) or sum(w for _, w in spec.weights) <= 0:
            raise ValueError(f"scenario {name!r}: weights must be >= 0 with a positive sum, got {spec.weights}")
        return WeightedGenerator(spec.weights, agents, enemies)
    if spec.teams is not None:
        comps = []
        for team in spec.teams:
            _check_names(name, "teams", team, allowed_types)
            if not agents[0] <= len(team) <= agents[1]:
                raise ValueError(f"scenario {name!r}: team {list(team)} has {len(team)} units; allowed {agents}")
            comps.append(Composition(tuple(team), tuple(team)))
        if enemies is not None:
            raise ValueError(f"scenario {name!r}: explicit teams are mirrored; do not also give enemies")
        return CompositionGenerator(comps)
    groups = scen.groups
    if spec.units is not None:
        _check_names(name, "units", [t for t, _ in spec.units], allowed_types)
        for t, r in spec.units:
            _check_range(name, f"units[{t}]", tuple(r), (0, scen.agents[1]))
        groups = tuple(((t,), tuple(r)) for t, r in spec.units)
    try:
        return ranged_generator(groups, agents, enemies)
    except ValueError:
        raise ValueError(f"scenario {name!r}: no team fits agents={agents} and the unit ranges "
                         f"{groups}") from None


def _check_names(name: str, key: str, names, allowed: Sequence[str]) -> None:
    bad = [t for t in names if t not in allowed]
    if bad:
        raise ValueError(f"scenario {name!r}: {key} names unit types {bad} not in this set; "
                         f"allowed: {', '.join(allowed)}")


def _team_text(team) -> str:
    return ", ".join(f"{c} {t}" for t, c in team)


def padding(name: str, spec: CompositionSpec | None, cover: Sequence[CompositionSpec]) -> tuple[int, int]:
    """(A, N): the padding that fits ``spec`` and every ``cover`` spec of the same scenario."""
    gens = [build_generator(name, spec)] + [build_generator(name, c) for c in cover]
    a = max(g.a_max for g in gens)
    n = max(g.n_max for g in gens)
    specs = [s for s in [spec, *cover] if s is not None]
    agents = covering_range(specs, "agents")
    enemies = covering_range(specs, "enemies")
    return max(a, agents[1] if agents else 0), max(n, enemies[1] if enemies else 0, agents[1] if agents else 0)


def make_env(name: str, *, batch_size: int, device: torch.device | str = "cpu", seed: int = 0,
             composition: CompositionSpec | None = None, cover: Sequence[CompositionSpec] = (),
             autoreset: bool = False, rules: Rules = Rules(), **options) -> CombatEnv:
    """The registry factory: a CombatEnv for a map or set (``options`` go to CombatEnv)."""
    scen = lookup(name)
    gen = build_generator(name, composition)
    a_max, n_max = padding(name, composition, cover)
    if isinstance(scen, MapSpec):
        seen = []
        for t, _ in scen.allies + scen.enemies:
            if t not in seen:
                seen.append(t)
        types = tuple(seen)
    else:
        types = scen.unit_types
    return CombatEnv(name, gen, batch_size=batch_size, device=device, seed=seed, a_max=a_max, n_max=n_max,
                     unit_types=types, episode_limit=scen.episode_limit, map_size=scen.map_size, rules=rules,
                     autoreset=autoreset, **options)
