"""Plug-ins: algorithms and scenarios that other distributions declare as Python entry points.

A distribution lists an :class:`~algorithms.base.Algorithm` subclass under the entry-point group
``marl_harness.algorithms`` and a :class:`~harness.envs.registry.ScenarioEntry` under
``marl_harness.scenarios``, each under its registry name (docs/plugins.md). Each registry loads
its group on first use, once, after its built-ins; nothing here holds state of its own.
"""
from __future__ import annotations

import importlib.metadata
from typing import Any, Callable, MutableMapping

ALGORITHMS_GROUP = "marl_harness.algorithms"
SCENARIOS_GROUP = "marl_harness.scenarios"

# check(entry point name, loaded object) -> None, or why the object cannot be registered under it
Check = Callable[[str, object], "str | None"]


class PluginError(Exception):
    """A plug-in that cannot be loaded or registered; ``str()`` names its distribution, its entry
    point and why, on one line."""

    def __init__(self, entry_point: importlib.metadata.EntryPoint, problem: str) -> None:
        self.group = entry_point.group
        self.entry_point = entry_point.name
        self.distribution = distribution_of(entry_point)
        self.problem = " ".join(problem.split())
        super().__init__(f"plug-in {self.entry_point!r} of distribution {self.distribution!r} (entry point "
                         f"'{entry_point.name} = {entry_point.value}' in group {self.group}) {self.problem}")


def distribution_of(entry_point: importlib.metadata.EntryPoint) -> str:
    """The name of the distribution that declares ``entry_point`` ("unknown" if metadata lacks it)."""
    dist = getattr(entry_point, "dist", None)
    return (dist.name if dist is not None else None) or "unknown"


def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    """The installed entry points of ``group``, by name then distribution (a stable load order)."""
    found = importlib.metadata.entry_points(group=group)
    return sorted(found, key=lambda ep: (ep.name, distribution_of(ep)))


class PluginGroup:
    """One entry-point group loaded into one registry (a mapping name -> object), at most once.

    A failure is kept and raised again on every later :meth:`load`, so a registry is never used
    with some of its plug-ins silently missing. ``origins`` says which names came from plug-ins.
    """

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind                          # "algorithm" or "scenario", for messages
        self.origins: dict[str, str] = {}         # registry name -> distribution that added it
        self._loaded = False
        self._error: PluginError | None = None

    def load(self, registry: MutableMapping[str, Any], check: Check) -> None:
        """Add every entry point of the group to ``registry`` (first call only); raise :class:`PluginError`."""
        if self._error is not None:
            raise self._error
        if self._loaded:
            return
        self._loaded = True   # first: a plug-in that reads the registry while it loads sees no recursion
        try:
            for ep in entry_points(self.group):
                self._add(ep, registry, check)
        except PluginError as err:
            self._error = err
            raise

    def _add(self, ep: importlib.metadata.EntryPoint, registry: MutableMapping[str, Any], check: Check) -> None:
        """Load ``ep`` and register its object under ``ep.name``, refusing a name already taken."""
        if ep.name in registry:   # refused before its module is imported
            owner = self.origins.get(ep.name)
            taken = f"the {self.kind} of distribution {owner!r}" if owner else f"the built-in {self.kind}"
            raise PluginError(ep, f"is refused: {self.kind} name {ep.name!r} is taken by {taken}; "
                                  f"rename the plug-in's {self.kind} and its entry point")
        try:
            obj = ep.load()
        except Exception as err:  # noqa: BLE001 - whatever a plug-in raises is reported with its origin
            raise PluginError(ep, f"failed to load: {type(err).__name__}: {err}") from err
        problem = check(ep.name, obj)
        if problem is not None:
            raise PluginError(ep, f"is refused: {problem}")
        registry[ep.name] = obj
        self.origins[ep.name] = distribution_of(ep)
