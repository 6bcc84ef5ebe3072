"""Whether an algorithm's ``Capabilities`` fit what a scenario offers: its action kind, a global
state and an entity view. What a scenario offers is read from a one-environment build, once per
scenario, so no backend has to declare it twice.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from algorithms import registry as algorithm_registry
from harness.envs import registry as scenario_registry


@dataclass(frozen=True)
class ScenarioTraits:
    """What a scenario offers an algorithm on one backend."""

    continuous_actions: bool   # agents take continuous actions (else discrete action indices)
    has_state: bool            # the env provides a global state
    entity_view: bool          # steps can carry the entity view (entities, entity_mask, obs_mask)


# The StarCraft II adapter (harness/envs/smac.py): discrete actions, SMAC's global state, and no
# entity view whatever the map. It is not built here: that would start the game.
SMAC_TRAITS = ScenarioTraits(continuous_actions=False, has_state=True, entity_view=False)


def scenario_traits(name: str, backend: str) -> ScenarioTraits | None:
    """What scenario ``name`` offers on ``backend``; None if it cannot be built here (its run reports why)."""
    if backend == "smac":
        return SMAC_TRAITS
    return _built_traits(scenario_registry.scenario(name))


@functools.lru_cache(maxsize=None)
def _built_traits(entry: scenario_registry.ScenarioEntry) -> ScenarioTraits | None:
    """Traits read from a 1-env CPU build of ``entry`` (cached per registry entry, so a registry
    substituted in a test never sees another's answer)."""
    try:
        env = scenario_registry.make(entry.name, batch_size=1, device="cpu")
    except Exception:  # noqa: BLE001 - a stand-in registry, or a backend that fails its own way at run time
        return None
    try:
        info = env.info
        return ScenarioTraits(continuous_actions=info.continuous_actions, has_state=info.has_state,
                              entity_view=info.n_entities > 0)
    finally:
        env.close()


def _acts(caps, kind: str) -> bool:
    """The algorithm can take ``kind`` ("discrete" or "continuous") actions."""
    if kind == "continuous":
        return bool(caps.continuous_actions)
    return bool(caps.discrete_actions)


def _fits(caps, traits: ScenarioTraits) -> bool:
    """Every capability the scenario asks of an algorithm is met."""
    kind = "continuous" if traits.continuous_actions else "discrete"
    return _acts(caps, kind) and (traits.entity_view or not caps.needs_entities) and \
        (traits.has_state or not caps.needs_state)


def _those(predicate, traits: ScenarioTraits) -> str:
    """Registered algorithms whose capabilities satisfy ``predicate`` and that can run a scenario with
    ``traits`` (so an alternative offered is one that runs), as a readable list."""
    names = [n for n in algorithm_registry.available()
             if predicate(caps := algorithm_registry.get(n).capabilities) and _fits(caps, traits)]
    return ", ".join(names) or "none registered"


def refusals(algorithm: str, scenario: str, backend: str, traits: ScenarioTraits) -> list[str]:
    """Why ``algorithm`` cannot run ``scenario`` on ``backend``: one message per unmet capability."""
    caps = algorithm_registry.get(algorithm).capabilities
    problems: list[str] = []
    kind = "continuous" if traits.continuous_actions else "discrete"
    if not _acts(caps, kind):
        own = [k for k in ("discrete", "continuous") if _acts(caps, k)]
        problems.append(
            f"algorithm {algorithm!r} cannot run scenario {scenario!r}: its actions are {kind} and {algorithm} "
            f"lacks capabilities.{kind}_actions (it takes {' and '.join(own) or 'no'} actions); allowed on "
            f"{scenario!r}: algorithms with {kind}_actions ({_those(lambda c: _acts(c, kind), traits)})")
    if caps.needs_entities and not traits.entity_view:
        if backend == "smac":
            where, instead = "on backend 'smac', whose StarCraft II adapter has no entity view", "backend: combat"
        else:
            where, instead = "(it has no entity view)", "a combat scenario"
        problems.append(
            f"algorithm {algorithm!r} cannot run scenario {scenario!r} {where}: {algorithm} has "
            f"capabilities.needs_entities; allowed: {instead} for {algorithm}, or on {scenario!r} an algorithm "
            f"without needs_entities ({_those(lambda c: not c.needs_entities, traits)})")
    if caps.needs_state and not traits.has_state:
        problems.append(
            f"algorithm {algorithm!r} cannot run scenario {scenario!r}: {algorithm} has capabilities.needs_state "
            f"and {scenario!r} provides no global state; allowed on {scenario!r}: algorithms without "
            f"needs_state ({_those(lambda c: not c.needs_state, traits)})")
    return problems
