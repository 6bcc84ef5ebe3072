"""Checks of a parsed suite against the algorithm and scenario registries.

Registries are reached through their modules at call time (``algorithm_registry.available()``),
so tests can substitute them. Each check yields ``(key path, message)`` problems.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from algorithms import registry as algorithm_registry
from harness.envs import registry as scenario_registry
from harness.plugins import ALGORITHMS_GROUP, PluginError
from harness.suite.capabilities import refusals, scenario_traits
from harness.suite.errors import Path, Problem, allowed_hint
from harness.suite.hyperparams import field_types, type_problem
from harness.suite.models import Suite



def registry_problems(suite: Suite) -> list[Problem]:
    """Every problem found by :func:`check_algorithms`, :func:`check_scenarios` and :func:`check_capabilities`;
    a plug-in that fails to load is the one problem, at the suite's list of its kind."""
    try:
        return [*check_algorithms(suite), *check_scenarios(suite), *check_capabilities(suite)]
    except PluginError as err:
        return [(("algorithms",) if err.group == ALGORITHMS_GROUP else ("scenarios",), str(err))]


def _name_path(suite: Suite, key: str, i: int) -> Path:
    entry = getattr(suite, key)[i]
    return (key, i) if isinstance(entry, str) else (key, i, "name")


def check_algorithms(suite: Suite) -> Iterator[Problem]:
    """Names are registered; overrides are hyper-parameters of the algorithm, of the right type."""
    known = algorithm_registry.available()
    for i, entry in enumerate(suite.algorithm_entries):
        if entry.name not in known:
            yield _name_path(suite, "algorithms", i), f"unknown algorithm {entry.name!r}; " + allowed_hint(entry.name, known)
            continue
        config_cls = algorithm_registry.config_class(entry.name)
        kinds = field_types(config_cls)
        bad = False
        for key, value in entry.overrides.items():
            path = ("algorithms", i, "overrides", key)
            if key not in kinds:
                bad = True
                yield path, f"{key!r} is not a hyper-parameter of {entry.name}; " + allowed_hint(key, kinds)
            elif (expected := type_problem(kinds[key], value)) is not None:
                bad = True
                yield path, f"{entry.name}.{key} must be {expected}, got {value!r}"
        if not bad:
            try:
                config_cls.from_overrides(dict(entry.overrides))
            except (TypeError, ValueError) as err:
                yield ("algorithms", i, "overrides"), f"{entry.name} refuses these overrides: {err}"


def check_scenarios(suite: Suite) -> Iterator[Problem]:
    """Names are registered and runnable on the backend; overrides and compositions are valid."""
    known = scenario_registry.available_scenarios()
    registered = set(algorithm_registry.available())
    algorithms = [a.name for a in suite.algorithm_entries if a.name in registered]
    kinds = {a: field_types(algorithm_registry.config_class(a)) for a in algorithms}
    for i, entry in enumerate(suite.scenario_entries):
        name_path = _name_path(suite, "scenarios", i)
        if entry.name not in known:
            yield name_path, f"unknown scenario {entry.name!r}; " + allowed_hint(entry.name, known)
            continue
        if suite.backend == "smac" and not scenario_registry.scenario(entry.name).starcraft_map:
            maps = [n for n in known if scenario_registry.scenario(n).starcraft_map]
            yield name_path, (f"scenario {entry.name!r} is not a StarCraft II map, so backend 'smac' cannot "
                              f"run it; use backend: combat, or a map: {', '.join(maps) or 'none registered'}")
        for key, value in entry.overrides.items():
            path = ("scenarios", i, "overrides", key)
            owners = [a for a in algorithms if key in kinds[a]]
            if not owners:
                names = sorted({k for a in algorithms for k in kinds[a]})
                yield path, (f"{key!r} is not a hyper-parameter of any listed algorithm "
                             f"({', '.join(algorithms)}); " + allowed_hint(key, names))
            for a in owners:
                if (expected := type_problem(kinds[a][key], value)) is not None:
                    yield path, f"{a}.{key} must be {expected}, got {value!r}"
                    break
        if suite.combat.rules == "smax" and scenario_registry.scenario(entry.name).family == "combat":
            from harness.envs.combat.maps import MAPS, SETS
            from harness.envs.combat.scenarios import unit_types
            from harness.envs.combat.units import PROFILES

            # a plug-in's combat scenario is in neither table: its unit types are its own business
            types = unit_types(entry.name) if entry.name in MAPS or entry.name in SETS else ()
            missing = [t for t in types if t not in PROFILES["smax"]]
            if missing:
                yield name_path, (f"scenario {entry.name!r} has {', '.join(missing)}, which SMAX's rules "
                                  f"(combat.rules: smax) lack; SMAX has {', '.join(PROFILES['smax'])}")
        limit = scenario_registry.scenario(entry.name).episode_limit
        if limit is not None and suite.evaluation.interval < suite.training.n_envs * limit:
            yield ("evaluation", "interval"), (
                f"evaluation.interval ({suite.evaluation.interval}) is shorter than one collection round on "
                f"{entry.name!r} can be (training.n_envs {suite.training.n_envs} x episode limit {limit} = "
                f"{suite.training.n_envs * limit} env steps), so evaluations would be skipped; make it at least "
                f"{suite.training.n_envs * limit} or lower training.n_envs")
        compositions = [(("train",), entry.train)] + [(("eval", k), c) for k, c in entry.eval.items()]
        valid = True
        for sub, comp in compositions:
            if comp is None:
                continue
            try:
                scenario_registry.validate_composition(entry.name, comp.to_spec())
            except ValueError as err:
                valid = False
                yield ("scenarios", i, *sub), f"not a valid composition for {entry.name}: {err}"
        if valid and not entry.allow_overlap:
            yield from _overlaps(entry, i)


def shared_compositions(scenario: str, train, composition, train_labels: Iterable[str] | None = None) -> list[str]:
    """The sorted labels of the compositions both specs draw on ``scenario`` (none if it cannot list them);
    ``train_labels``: the training set's, already enumerated."""
    seen = set(train_labels if train_labels is not None else scenario_registry.compositions(scenario, train) or ())
    return sorted(seen & set(scenario_registry.compositions(scenario, composition) or ()))


def _overlaps(entry, i: int, shown: int = 8) -> Iterator[Problem]:
    """Evaluation sets that share compositions with the training set, each named with the shared
    compositions: a zero-shot split holds only unseen teams unless the scenario says ``allow_overlap``."""
    train = scenario_registry.compositions(entry.name, entry.train.to_spec() if entry.train else None)
    if train is None:
        return
    for name, comp in entry.eval.items():
        shared = shared_compositions(entry.name, None, comp.to_spec(), train_labels=train)
        if shared:
            more = f" and {len(shared) - shown} more" if len(shared) > shown else ""
            yield ("scenarios", i, "eval", name), (
                f"eval set {name!r} shares {len(shared)} composition(s) with the training set: "
                f"{', '.join(shared[:shown])}{more}; an evaluation set of a zero-shot split holds only "
                "compositions the training set never draws: remove them, or set allow_overlap: true on "
                f"scenario {entry.name!r} to evaluate on training compositions on purpose")


def check_capabilities(suite: Suite) -> Iterator[Problem]:
    """Every listed algorithm can act in each listed scenario and gets what it needs from it: its
    action kind (discrete or continuous), a global state (``needs_state``) and an entity view
    (``needs_entities``). Unknown names, and maps the backend cannot run, are left to the checks above."""
    registered = set(algorithm_registry.available())
    known = set(scenario_registry.available_scenarios())
    algorithms = list(dict.fromkeys(a.name for a in suite.algorithm_entries if a.name in registered))
    for i, entry in enumerate(suite.scenario_entries):
        if entry.name not in known:
            continue
        if suite.backend == "smac" and not scenario_registry.scenario(entry.name).starcraft_map:
            continue
        traits = scenario_traits(entry.name, suite.backend)
        if traits is None:
            continue
        for algorithm in algorithms:
            for message in refusals(algorithm, entry.name, suite.backend, traits):
                yield _name_path(suite, "scenarios", i), message
