"""JSON Schema of the suite format, for editors (YAML language servers) and external tools."""
from __future__ import annotations

from typing import Any

from algorithms import registry as algorithm_registry
from harness.envs import registry as scenario_registry
from harness.suite.models import Suite

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def suite_schema(with_names: bool = True) -> dict[str, Any]:
    """The schema of :class:`Suite`; with ``with_names``, algorithm and scenario names are enums
    of the registered ones (left open if a registry cannot be imported)."""
    schema = Suite.model_json_schema()
    schema = {"$schema": DIALECT, **schema, "title": "MARL harness suite",
              "description": "A declarative benchmark suite: algorithms × scenarios × seeds (docs/architecture.md; `harness schema` prints this schema)."}
    if with_names:
        for key, entry, names in (("algorithms", "AlgorithmEntry", _names(algorithm_registry.available)),
                                  ("scenarios", "ScenarioEntry", _names(scenario_registry.available_scenarios))):
            if names:
                _restrict(schema, key, entry, names)
    return schema


def _names(list_names) -> list[str]:
    try:
        return list(list_names())
    except ImportError:   # a backend or algorithm module that is not importable here
        return []


def _restrict(schema: dict, key: str, entry: str, names: list[str]) -> None:
    """Add ``enum: names`` to the plain-string form and to the ``name`` of the mapping form."""
    schema["$defs"][entry]["properties"]["name"]["enum"] = names
    for branch in schema["properties"][key]["items"]["anyOf"]:
        if branch.get("type") == "string":
            branch["enum"] = names
