"""Suites checked against the real algorithm and scenario registries (no fakes)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from algorithms import registry as algorithm_registry
from harness.suite import SuiteError, expand, load_suite, suite_schema

ROOT = Path(__file__).resolve().parents[1]
SUITE = Path(__file__).parent / "data" / "suites" / "registered" / "value_based.yaml"
COMMITTED = sorted((ROOT / "suites").rglob("*.yaml"))


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = SUITE.read_text()
    assert old in text
    (tmp_path / "s.yaml").write_text(text.replace(old, new))
    return tmp_path / "s.yaml"


def test_suite_of_registered_names_expands_with_real_configs():
    runs = expand(load_suite(SUITE))
    assert len(runs) == 3 * 4 * 2
    configs = {(r.algorithm, r.scenario): r.algorithm_config for r in runs}
    defaults = algorithm_registry.config_class("qmix")()
    assert configs["qmix", "penalty"]["mixing_embed_dim"] == 16
    assert configs["qmix", "penalty"]["gamma"] == defaults.gamma
    assert configs["vdn", "3m"]["optimizer"] == "adam"
    assert configs["iql", "climbing"]["epsilon_anneal_time"] == 1_000
    assert {r.budget_env_steps for r in runs if r.scenario == "3m"} == {40_000}


def test_real_config_validation_is_reported_at_the_override(tmp_path):
    path = _variant(tmp_path, "optimizer: adam", "optimizer: sgd")
    with pytest.raises(SuiteError, match=r":9: algorithms\[1\]\.overrides: vdn refuses these overrides: .*sgd"):
        load_suite(path)


def test_real_composition_validator_refuses_a_spec_on_a_fixed_map(tmp_path):
    path = _variant(tmp_path, "budget: {env_steps: 40_000}", "train: {agents: 5}")
    with pytest.raises(SuiteError, match=r":18: scenarios\[2\]\.train: not a valid composition for 3m"):
        load_suite(path)


def test_registered_value_based_algorithms_cannot_evaluate_on_larger_teams(tmp_path):
    path = _variant(tmp_path, '"4": {agents: 4}', '"6": {agents: 6}')
    with pytest.raises(SuiteError, match=r":23: scenarios\[3\]\.eval\.6: algorithm 'iql' cannot evaluate"):
        expand(load_suite(path))


def test_schema_lists_registered_names():
    schema = suite_schema()
    assert {"iql", "vdn", "qmix"} <= set(schema["$defs"]["AlgorithmEntry"]["properties"]["name"]["enum"])
    assert {"climbing", "3m", "SZ"} <= set(schema["$defs"]["ScenarioEntry"]["properties"]["name"]["enum"])


def test_loader_module_validates_a_suite_and_counts_its_runs():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "harness.suite.loader", str(SUITE)],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert (result.returncode, result.stdout, result.stderr) == (0, "OK: 24 runs\n", "")


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_suites_validate_and_expand(path):
    assert expand(load_suite(path))


def test_an_evaluation_interval_a_collection_round_can_skip_is_refused(tmp_path):
    """8 envs of SZ (episode limit 150) can collect 1,200 env steps in one round: evaluations every
    1,000 steps would be skipped (and a run's k-th evaluation would not be at the k-th interval)."""
    path = _variant(tmp_path, "evaluation: {interval: 5_000, episodes: 8}", "evaluation: {interval: 1_000, episodes: 8}")
    with pytest.raises(SuiteError, match=r":5: evaluation\.interval: .* shorter than one collection round on 'SZ' "
                                         r"can be \(training\.n_envs 8 x episode limit \d+ = \d+ env steps\)"):
        load_suite(path)
