"""Stand-in algorithm and scenario registries for the suite tests (no tests here).

The suite layer reaches registries through their modules, so these replace the modules' public
functions; suites in tests/data/suites/ are written against the names defined here.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from algorithms import registry as algorithm_registry
from algorithms.base import AlgorithmConfig, Capabilities
from harness.envs import registry as scenario_registry


@dataclass(frozen=True)
class FakeIndependentConfig(AlgorithmConfig):
    lr: float = 5e-4
    gamma: float = 0.99
    batch_size: int = 32
    epsilon_anneal_steps: int = 50_000
    double_q: bool = True


@dataclass(frozen=True)
class FakeMixerConfig(FakeIndependentConfig):
    mixing_embed_dim: int = 32

    def __post_init__(self) -> None:
        if self.mixing_embed_dim < 1:
            raise ValueError(f"mixing_embed_dim must be >= 1, got {self.mixing_embed_dim}")


def _algorithm(name: str, config_cls: type, variable_team_size: bool) -> SimpleNamespace:
    return SimpleNamespace(name=name, config_cls=config_cls,
                           capabilities=Capabilities(variable_team_size=variable_team_size))


ALGORITHMS = {
    "iql": _algorithm("iql", FakeIndependentConfig, variable_team_size=True),
    "vdn": _algorithm("vdn", FakeIndependentConfig, variable_team_size=False),
    "qmix": _algorithm("qmix", FakeMixerConfig, variable_team_size=False),
}


def _agents_between(lo: int, hi: int):
    def validate(name, spec):
        if spec.agents is not None and not (lo <= spec.agents[0] and spec.agents[1] <= hi):
            raise ValueError(f"agents {list(spec.agents)} outside {name}'s allowed range [{lo}, {hi}]")
    return validate


def _team_sizes(lo: int, hi: int):
    """A composition per team size (``3x``), for the overlap check."""
    def enumerate_(name, spec):
        a, b = spec.agents if spec is not None and spec.agents is not None else (lo, hi)
        return [f"{n}x" for n in range(a, b + 1)]
    return enumerate_


def _scenario(name: str, family: str, lo: int, hi: int, starcraft_map: bool) -> scenario_registry.ScenarioEntry:
    def factory(*args, **kwargs):
        raise AssertionError("suite tests never build environments")
    return scenario_registry.ScenarioEntry(name=name, family=family, factory=factory,
                                           validate_composition=_agents_between(lo, hi),
                                           enumerate_compositions=_team_sizes(lo, hi),
                                           starcraft_map=starcraft_map)


SCENARIOS = {e.name: e for e in [
    _scenario("climbing", "matrix", 2, 2, False),
    _scenario("penalty", "matrix", 2, 2, False),
    _scenario("3m", "combat", 3, 3, True),
    _scenario("5m_vs_6m", "combat", 5, 5, True),
    _scenario("MMM", "combat", 10, 10, True),
    _scenario("SZ", "combat", 1, 8, False),
    _scenario("3-8sz", "combat", 3, 8, False),
]}


def _get(name: str):
    if name not in ALGORITHMS:
        raise KeyError(f"unknown algorithm {name!r}")
    return ALGORITHMS[name]


def _scenario_entry(name: str):
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}")
    return SCENARIOS[name]


@pytest.fixture
def fake_registries(monkeypatch):
    """Replace the algorithm and scenario registries with the fakes above for one test."""
    monkeypatch.setattr(algorithm_registry, "available", lambda: sorted(ALGORITHMS))
    monkeypatch.setattr(algorithm_registry, "get", _get)
    monkeypatch.setattr(algorithm_registry, "config_class", lambda name: _get(name).config_cls)
    monkeypatch.setattr(scenario_registry, "available_scenarios", lambda: sorted(SCENARIOS))
    monkeypatch.setattr(scenario_registry, "scenario", _scenario_entry)
