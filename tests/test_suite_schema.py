"""The JSON schema of the suite format accepts every valid suite and rejects unknown keys and names."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.suite import suite_schema
from harness.suite.source import read_yaml
from test_suite_fakes import ALGORITHMS, SCENARIOS, fake_registries  # noqa: F401

DATA = Path(__file__).parent / "data" / "suites"

pytestmark = pytest.mark.usefixtures("fake_registries")


def _data(path: Path):
    return read_yaml(path.read_text(), str(path))[0]


def _errors(schema: dict, data) -> list[str]:
    """Messages of every schema error, including those inside anyOf branches."""
    def walk(errors):
        for e in errors:
            yield e.message
            yield from walk(e.context)
    return list(walk(jsonschema.Draft202012Validator(schema).iter_errors(data)))


def test_schema_is_a_valid_draft_2020_12_schema_and_serialises():
    schema = suite_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]
    assert json.loads(json.dumps(schema)) == schema


@pytest.mark.parametrize("path", sorted((DATA / "valid").glob("*.yaml")), ids=lambda p: p.stem)
def test_schema_accepts_every_valid_suite(path):
    assert _errors(suite_schema(), _data(path)) == []


@pytest.mark.parametrize("name", ["unknown_top_key", "unknown_composition_key", "unknown_report_key",
                                  "unknown_algorithm_entry_key"])
def test_schema_rejects_unknown_keys(name):
    errors = _errors(suite_schema(), _data(DATA / "malformed" / f"{name}.yaml"))
    assert errors and any("Additional properties are not allowed" in e for e in errors)


def test_schema_enumerates_registered_algorithm_and_scenario_names():
    schema = suite_schema()
    assert schema["$defs"]["AlgorithmEntry"]["properties"]["name"]["enum"] == sorted(ALGORITHMS)
    assert schema["$defs"]["ScenarioEntry"]["properties"]["name"]["enum"] == sorted(SCENARIOS)
    assert _errors(schema, _data(DATA / "malformed" / "unknown_algorithm.yaml"))
    assert _errors(schema, _data(DATA / "malformed" / "unknown_scenario.yaml"))


def test_schema_without_names_leaves_names_open():
    schema = suite_schema(with_names=False)
    assert "enum" not in schema["$defs"]["AlgorithmEntry"]["properties"]["name"]
    assert _errors(schema, _data(DATA / "malformed" / "unknown_algorithm.yaml")) == []
