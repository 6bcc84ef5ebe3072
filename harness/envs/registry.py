"""Scenario registry: maps a scenario name (a map or a composition set) to the backend that builds it.

Backends register their scenarios at import; plug-ins are ``marl_harness.scenarios`` entry points
naming a :class:`ScenarioEntry` (:mod:`harness.plugins`), loaded on first use after the backends.
:func:`make` is the one constructor the runner uses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from harness.envs.base import BatchedEnv, CompositionSpec
from harness.plugins import SCENARIOS_GROUP, PluginGroup

# factory(name, batch_size=, device=, seed=, composition=, cover=, autoreset=) -> BatchedEnv
EnvFactory = Callable[..., BatchedEnv]
# validator(name, spec) raises ValueError with a message naming what is allowed
CompositionValidator = Callable[[str, CompositionSpec], None]
# enumerator(name, spec or None) -> the labels of every composition the spec can draw
CompositionEnumerator = Callable[[str, "CompositionSpec | None"], Sequence[str]]


@dataclass(frozen=True)
class ScenarioEntry:
    name: str
    family: str                      # "matrix", "combat", ...
    factory: EnvFactory
    description: str = ""
    validate_composition: CompositionValidator | None = None
    starcraft_map: bool = False      # also runnable on StarCraft II through `backend: smac`
    # keyword arguments the factory takes beyond the common ones: "options" (a suite's simulator
    # options), "entity_view" (whether steps build the entity view)
    accepts: frozenset[str] = frozenset()
    episode_limit: int | None = None  # agent steps per episode at most (suites check cadences against it)
    # the labels (as ``BatchedEnv.compositions`` writes them) of every composition a spec can draw, so
    # a suite can refuse evaluation sets that overlap the training set; None: the family cannot list them
    enumerate_compositions: CompositionEnumerator | None = None


_SCENARIOS: dict[str, ScenarioEntry] = {}
_LOADED = False
_PLUGINS = PluginGroup(SCENARIOS_GROUP, "scenario")


def register(entry: ScenarioEntry) -> None:
    """Add a scenario; names are unique across backends."""
    if entry.name in _SCENARIOS and _SCENARIOS[entry.name] is not entry:
        raise ValueError(f"scenario {entry.name!r} registered twice")
    _SCENARIOS[entry.name] = entry


def _load_backends() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        import harness.envs.matrix  # noqa: F401  (registers matrix games)
        import harness.envs.simple_world  # noqa: F401  (registers IAC's continuous Simple World)
        try:
            import harness.envs.combat  # noqa: F401  (registers combat maps and sets)
        except ImportError as err:  # pragma: no cover - only while the simulator is absent
            if "harness.envs.combat" not in str(err):
                raise
    _PLUGINS.load(_SCENARIOS, plugin_problem)


def plugin_problem(name: str, obj: object) -> str | None:
    """Why ``obj`` (an entry point ``name`` loaded) is no scenario the registry can hold, or None."""
    if not isinstance(obj, ScenarioEntry):
        return f"it must point at a harness.envs.registry.ScenarioEntry, not {obj!r}"
    if obj.name != name:
        return f"its ScenarioEntry has name {obj.name!r}; the entry point's name must be the scenario's name"
    if not callable(obj.factory):
        return f"the factory of scenario {name!r} is not callable: {obj.factory!r}"
    return None


def available_scenarios() -> list[str]:
    """All registered scenario names, sorted."""
    _load_backends()
    return sorted(_SCENARIOS)


def scenario(name: str) -> ScenarioEntry:
    """The registry entry for ``name``; an unknown name lists the valid ones."""
    _load_backends()
    if name not in _SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; available: {', '.join(sorted(_SCENARIOS))}")
    return _SCENARIOS[name]


def validate_composition(name: str, spec: CompositionSpec) -> None:
    """Raise ValueError if ``spec`` is not a valid composition for scenario ``name``."""
    entry = scenario(name)
    if entry.validate_composition is not None:
        entry.validate_composition(name, spec)


def compositions(name: str, spec: CompositionSpec | None) -> list[str] | None:
    """The sorted labels of every composition ``spec`` (None: the scenario's default) can draw on
    scenario ``name``, or None when its backend cannot enumerate them."""
    entry = scenario(name)
    if entry.enumerate_compositions is None:
        return None
    return sorted(set(entry.enumerate_compositions(name, spec)))


def make(
    name: str,
    *,
    batch_size: int,
    device: str | torch.device = "cpu",
    seed: int = 0,
    composition: CompositionSpec | None = None,
    cover: Sequence[CompositionSpec] = (),
    autoreset: bool = False,
    backend: str = "combat",
    options: dict | None = None,
    entity_view: bool = True,
) -> BatchedEnv:
    """Build a batched environment for scenario ``name``.

    ``cover`` lists other composition specs whose shapes this environment's padding must also fit,
    so that the training and evaluation environments of one run share tensor shapes.
    ``backend="smac"`` runs StarCraft-map scenarios on StarCraft II (needs the SMAC package).
    ``options`` are the combat simulator's (a suite's ``combat:`` key); other families ignore them.
    ``entity_view=False`` spares families that build an entity view the work (no algorithm reads it).
    """
    entry = scenario(name)
    if backend == "smac":
        if not entry.starcraft_map:
            raise ValueError(f"scenario {name!r} is not a StarCraft II map; backend 'smac' cannot run it")
        from harness.envs.smac import make_smac  # lazy: StarCraft II is optional

        return make_smac(name, batch_size=batch_size, device=device, seed=seed)
    if backend != "combat":
        raise ValueError(f"unknown backend {backend!r}; allowed: combat, smac")
    return entry.factory(
        name,
        batch_size=batch_size,
        device=torch.device(device),
        seed=seed,
        composition=composition,
        cover=tuple(cover),
        autoreset=autoreset,
        **({"options": dict(options)} if options and "options" in entry.accepts else {}),
        **({"entity_view": entity_view} if "entity_view" in entry.accepts else {}),
    )
