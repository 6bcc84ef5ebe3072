"""Suite validation refuses algorithm × scenario pairings the algorithm's capabilities forbid: the
action kind (discrete / continuous), an entity view and a global state (harness/suite/capabilities.py)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from algorithms import registry as algorithm_registry
from algorithms.base import Capabilities
from algorithms.value.q_learning import ValueBased
from harness.envs import registry as scenario_registry
from harness.suite import SuiteError, expand, load_suite
from harness.suite.capabilities import SMAC_TRAITS, scenario_traits


@dataclasses.dataclass(frozen=True)
class _Caps(Capabilities):
    """Capabilities with the continuous_actions flag, whether or not algorithms/base.py has it yet."""

    continuous_actions: bool = False


def _probe(name: str, **caps) -> type:
    """A registrable algorithm class (never built: suite validation reads only its name, config and flags)."""
    return type(name, (ValueBased,), {"name": name, "capabilities": _Caps(**caps)})


PROBES = {
    "continuous_probe": _probe("continuous_probe", discrete_actions=False, continuous_actions=True),
    "both_probe": _probe("both_probe", discrete_actions=True, continuous_actions=True),
    "entity_probe": _probe("entity_probe", needs_entities=True),
    "stateless_probe": _probe("stateless_probe", needs_state=False),
}


def _stateless_factory(name, **kwargs):
    """climbing, but declaring no global state."""
    env = scenario_registry.scenario("climbing").factory("climbing", **kwargs)
    env.info = dataclasses.replace(env.info, has_state=False)
    return env


def _broken_factory(name, **kwargs):
    raise RuntimeError("this backend cannot be built here")


@pytest.fixture
def probes(monkeypatch):
    algorithm_registry.available()            # real algorithms first, so they are in the patched tables
    scenario_registry.available_scenarios()
    table = dict(algorithm_registry._ALGORITHMS) | PROBES
    monkeypatch.setattr(algorithm_registry, "_ALGORITHMS", table)
    scenarios = dict(scenario_registry._SCENARIOS)
    for name, factory in (("stateless_game", _stateless_factory), ("unbuildable_game", _broken_factory)):
        scenarios[name] = scenario_registry.ScenarioEntry(name=name, family="matrix", factory=factory,
                                                          episode_limit=1)
    monkeypatch.setattr(scenario_registry, "_SCENARIOS", scenarios)


def _suite(tmp_path: Path, algorithms: list[str], scenarios: list[str], backend: str | None = None) -> Path:
    lines = ["name: capabilities", "seeds: 1", "budget: {env_steps: 10_000}",
             "evaluation: {interval: 5_000, episodes: 4}", *([f"backend: {backend}"] if backend else []),
             "algorithms:", *[f"  - {a}" for a in algorithms],
             "scenarios:", *[f"  - {s}" for s in scenarios]]
    path = tmp_path / "suite.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _refusal(tmp_path, algorithms, scenarios, backend=None) -> str:
    with pytest.raises(SuiteError) as err:
        load_suite(_suite(tmp_path, algorithms, scenarios, backend))
    return str(err.value)


@pytest.mark.parametrize("algorithm", ["iql", "vdn", "qmix"])
def test_discrete_value_based_algorithms_are_refused_on_simple_world(tmp_path, algorithm):
    message = _refusal(tmp_path, [algorithm], ["climbing", "simple_world"])
    assert f":9: scenarios[1]: algorithm {algorithm!r} cannot run scenario 'simple_world': its actions are " in message
    assert f"{algorithm} lacks capabilities.continuous_actions (it takes discrete actions)" in message
    assert "allowed on 'simple_world': algorithms with continuous_actions (" in message


@pytest.mark.parametrize("algorithm", ["iql", "vdn", "qmix"])
def test_discrete_value_based_algorithms_pass_on_3m_and_climbing(tmp_path, algorithm):
    runs = expand(load_suite(_suite(tmp_path, [algorithm], ["3m", "climbing"])))
    assert [r.scenario for r in runs] == ["3m", "climbing"]


def test_the_allowed_algorithms_are_named(tmp_path, probes):
    message = _refusal(tmp_path, ["iql"], ["simple_world"])
    assert "algorithms with continuous_actions (both_probe, continuous_probe, maddpg)" in message


@pytest.mark.parametrize("scenario", ["climbing", "3m"])
def test_a_continuous_only_algorithm_is_refused_on_a_discrete_scenario(tmp_path, probes, scenario):
    message = _refusal(tmp_path, ["continuous_probe"], [scenario])
    assert (f"scenarios[0]: algorithm 'continuous_probe' cannot run scenario {scenario!r}: its actions are discrete "
            "and continuous_probe lacks capabilities.discrete_actions (it takes continuous actions)") in message
    allowed = message.split(f"allowed on {scenario!r}: algorithms with discrete_actions (")[1]
    assert {"iql", "vdn", "qmix", "both_probe"} <= set(allowed.rstrip(")").split(", "))


def test_algorithms_with_the_right_action_kind_pass(tmp_path, probes):
    assert expand(load_suite(_suite(tmp_path, ["continuous_probe", "both_probe"], ["simple_world"])))
    assert expand(load_suite(_suite(tmp_path, ["both_probe"], ["climbing", "3m"])))


@pytest.mark.parametrize("scenario", ["climbing", "iac_matrix"])
def test_an_entity_algorithm_is_refused_without_an_entity_view(tmp_path, probes, scenario):
    message = _refusal(tmp_path, ["entity_probe"], [scenario])
    assert (f"algorithm 'entity_probe' cannot run scenario {scenario!r} (it has no entity view): entity_probe "
            "has capabilities.needs_entities; allowed: a combat scenario for entity_probe, or on "
            f"{scenario!r} an algorithm without needs_entities (") in message


def test_an_entity_algorithm_passes_on_combat_but_not_through_the_smac_adapter(tmp_path, probes):
    assert expand(load_suite(_suite(tmp_path, ["entity_probe"], ["3m"])))
    assert expand(load_suite(_suite(tmp_path, ["entity_probe"], ["mipi_matrix"])))   # its typed game has one
    message = _refusal(tmp_path, ["iql", "entity_probe"], ["3m"], backend="smac")
    assert ("scenarios[0]: algorithm 'entity_probe' cannot run scenario '3m' on backend 'smac', whose StarCraft II "
            "adapter has no entity view: entity_probe has capabilities.needs_entities; allowed: backend: combat "
            "for entity_probe") in message


def test_the_smac_backend_is_judged_without_starting_starcraft(tmp_path):
    assert scenario_traits("3m", "smac") == SMAC_TRAITS
    assert expand(load_suite(_suite(tmp_path, ["qmix"], ["3m"], backend="smac")))


def test_a_state_needing_algorithm_is_refused_without_a_global_state(tmp_path, probes):
    message = _refusal(tmp_path, ["stateless_probe", "qmix"], ["stateless_game"])
    assert ("scenarios[0]: algorithm 'qmix' cannot run scenario 'stateless_game': qmix has capabilities.needs_state "
            "and 'stateless_game' provides no global state; allowed on 'stateless_game': algorithms without "
            "needs_state (stateless_probe)") in message
    assert expand(load_suite(_suite(tmp_path, ["stateless_probe"], ["stateless_game"])))


def test_traits_come_from_one_cached_build_per_scenario(probes):
    built = scenario_traits("simple_world", "combat")
    assert built.continuous_actions and built.has_state and not built.entity_view
    assert scenario_traits("simple_world", "combat") is built
    combat = scenario_traits("3m", "combat")
    assert combat.entity_view and combat.has_state and not combat.continuous_actions
    assert not scenario_traits("stateless_game", "combat").has_state


def test_a_scenario_that_cannot_be_built_here_is_left_to_its_run(tmp_path, probes):
    assert scenario_traits("unbuildable_game", "combat") is None
    assert expand(load_suite(_suite(tmp_path, ["entity_probe", "iql"], ["unbuildable_game"])))
