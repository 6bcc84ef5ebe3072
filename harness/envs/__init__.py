"""Batched environments: one interface (``base``), one constructor (``registry.make``)."""
from harness.envs.base import BatchedEnv, CompositionSpec, EnvInfo, EnvStep
from harness.envs.registry import available_scenarios, make, scenario, validate_composition

__all__ = [
    "BatchedEnv", "CompositionSpec", "EnvInfo", "EnvStep",
    "available_scenarios", "make", "scenario", "validate_composition",
]
