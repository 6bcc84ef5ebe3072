"""Loading suites: every malformed file fails with one located line; valid files load."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.suite import SuiteError, expand, load_suite, suite_hash
from test_suite_fakes import fake_registries  # noqa: F401  (fixture)

DATA = Path(__file__).parent / "data" / "suites"
MALFORMED = sorted((DATA / "malformed").glob("*.yaml"))
VALID = sorted((DATA / "valid").glob("*.yaml"))
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("fake_registries")


def _expectation(path: Path) -> tuple[int, str, str]:
    """``# expect: LINE KEY | words the message must contain`` from a file's first line."""
    header = path.read_text().splitlines()[0]
    assert header.startswith("# expect: "), f"{path.name} lacks an expect header"
    where, _, words = header[len("# expect: "):].partition(" | ")
    line, key = where.split(" ", 1)
    return int(line), key.strip(), words.strip()


def test_malformed_corpus_is_large_enough():
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.stem)
def test_malformed_suite_reports_file_line_and_key_on_one_line(path):
    line, key, words = _expectation(path)
    with pytest.raises(SuiteError) as info:
        expand(load_suite(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: {key}: "), message
    assert words in message
    assert (info.value.file, info.value.line, info.value.key) == (str(path), line, key)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_suite_loads_and_expands(path):
    suite = load_suite(path)
    assert expand(suite)
    assert suite.source is not None and suite.source.file == str(path)


def test_unknown_key_lists_every_allowed_key():
    with pytest.raises(SuiteError) as info:
        load_suite(DATA / "malformed" / "unknown_composition_key.yaml")
    assert "allowed: agents, enemies, teams, units, weights" in str(info.value)


def test_missing_file_is_a_suite_error(tmp_path):
    with pytest.raises(SuiteError, match="cannot read the suite file"):
        load_suite(tmp_path / "absent.yaml")


def test_yaml_merge_keys_and_unquoted_numeric_keys_load_as_names():
    suite = load_suite(DATA / "valid" / "generalisation.yaml")
    sz = suite.scenario_entries[0]
    assert list(sz.eval) == ["6", "7", "8", "mixed"]
    assert sz.eval["mixed"].agents == 6 and sz.eval["mixed"].weights == {"stalker": 0.5, "zealot": 0.5}


def test_strings_are_not_numbers(tmp_path):
    text = (DATA / "valid" / "minimal.yaml").read_text().replace("seeds: 2", 'seeds: "2"')
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(SuiteError, match=r":3: seeds: expected an integer or a list, got '2'"):
        load_suite(tmp_path / "s.yaml")


def test_suite_hash_ignores_comments_and_layout_but_not_values(tmp_path):
    original = DATA / "valid" / "full.yaml"
    text = original.read_text()
    (tmp_path / "comments.yaml").write_text("# another comment\n" + text.replace("seeds: [0, 1, 2]", "seeds:\n  - 0\n  - 1\n  - 2"))
    (tmp_path / "changed.yaml").write_text(text.replace("episodes: 16", "episodes: 17"))
    assert len(suite_hash(original)) == 64
    assert suite_hash(tmp_path / "comments.yaml") == suite_hash(original)
    assert suite_hash(tmp_path / "changed.yaml") != suite_hash(original)


def _run_module(path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "harness.suite.loader", str(path)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


@pytest.mark.parametrize("name", ["yaml_syntax", "seeds_duplicate", "unknown_budget_key"])
def test_loader_module_prints_the_error_line_and_exits_2(name):
    path = DATA / "malformed" / f"{name}.yaml"
    line, key, _ = _expectation(path)
    result = _run_module(path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"{path}:{line}: {key}: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


_BASE = "name: n\nseeds: 2\nbudget: {env_steps: 1000}\nevaluation: {interval: 100}\nalgorithms: [iql]\n"


@pytest.mark.parametrize("scenarios, expected", [
    ("[{name: SZ, train: {agents: [3, x]}}]", "scenarios[0].train.agents[1]: expected an integer, got 'x'"),
    ("[{name: SZ, train: {agents: x}}]", "scenarios[0].train.agents: expected an integer or a list, got 'x'"),
    ("[{name: SZ, train: {units: {zealot: x}}}]", "scenarios[0].train.units.zealot: expected an integer or a list"),
    ("[{overrides: {}}]", "scenarios[0].name: missing required key 'name'"),
    ("[{name: SZ, train: 5}]", "scenarios[0].train: expected a mapping, got 5"),
])
def test_errors_inside_either_or_fields_name_the_form_that_was_meant(tmp_path, scenarios, expected):
    path = tmp_path / "s.yaml"
    path.write_text(_BASE + f"scenarios: {scenarios}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}:6: {expected}")
