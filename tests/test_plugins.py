"""Plug-ins through entry points, without installing anything: distributions are written as
``.dist-info`` folders in a temporary directory, and ``importlib.metadata.entry_points`` is narrowed
to them (so an installed plug-in, such as the example in a venv that has it, plays no part)."""
from __future__ import annotations

import dataclasses
import importlib.metadata
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from algorithms import registry as algorithm_registry
from harness import plugins
from harness.cli import main as harness_main
from harness.envs import registry as scenario_registry
from harness.runner.loop import execute_group, execute_run
from harness.suite import SuiteError, expand, load_suite
from harness.suite.smoke import smoke

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "harness-plugin-example"
EXAMPLE_SUITE = EXAMPLE / "suite.yaml"


class FakeSite:
    """A folder on ``sys.path`` holding distributions' metadata and modules; ``entry_points`` sees only it."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.calls: list[str | None] = []
        monkeypatch.syspath_prepend(str(root))
        monkeypatch.setattr(importlib.metadata, "entry_points", self.entry_points)

    def entry_points(self, group: str | None = None, **_) -> importlib.metadata.EntryPoints:
        self.calls.append(group)
        found = [ep for dist in importlib.metadata.distributions(path=[str(self.root)])
                 for ep in dist.entry_points if group is None or ep.group == group]
        return importlib.metadata.EntryPoints(found)

    def distribution(self, name: str, entry_points: dict[str, dict[str, str]],
                     modules: dict[str, str] | None = None) -> None:
        """Write distribution ``name`` declaring ``entry_points`` {group: {name: value}} and ``modules``."""
        info = self.root / f"{name.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text("".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in entry_points.items()))
        for module, source in (modules or {}).items():
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))


def _builtins_only(monkeypatch: pytest.MonkeyPatch, registry, table: str, list_names) -> None:
    """Give ``registry`` a table of its built-ins (loaded first) and a plug-in loader that has not run."""
    list_names()
    loader = registry._PLUGINS
    monkeypatch.setattr(registry, table, {k: v for k, v in getattr(registry, table).items() if k not in loader.origins})
    monkeypatch.setattr(registry, "_PLUGINS", plugins.PluginGroup(loader.group, loader.kind))


@pytest.fixture
def site(tmp_path, monkeypatch) -> FakeSite:
    """Registries of the built-ins only, with fresh plug-in loaders reading a fake site."""
    _builtins_only(monkeypatch, algorithm_registry, "_ALGORITHMS", algorithm_registry.available)
    _builtins_only(monkeypatch, scenario_registry, "_SCENARIOS", scenario_registry.available_scenarios)
    (tmp_path / "site").mkdir()
    fake = FakeSite(tmp_path / "site", monkeypatch)
    before = set(sys.modules)
    yield fake
    for name in set(sys.modules) - before:   # modules imported from the fake site are forgotten
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(fake.root)):
            del sys.modules[name]


@pytest.fixture
def example(site: FakeSite, monkeypatch) -> FakeSite:
    """The example plug-in as declared in its pyproject.toml, its package importable from the source tree."""
    declared = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]["entry-points"]
    monkeypatch.syspath_prepend(str(EXAMPLE))
    site.distribution("harness-plugin-example", declared)
    return site


def test_example_plugin_is_registered_under_its_entry_point_names(example):
    from harness_plugin_example.scenarios import MIPI_MATRIX_X20
    from harness_plugin_example.vdn_huber import VDNHuber

    assert "vdn_huber" in algorithm_registry.available()
    assert algorithm_registry.get("vdn_huber") is VDNHuber
    assert algorithm_registry.config_class("vdn_huber")().huber_delta == 1.0
    assert scenario_registry.scenario("mipi_matrix_x20") is MIPI_MATRIX_X20
    assert algorithm_registry._PLUGINS.origins == {"vdn_huber": "harness-plugin-example"}
    assert scenario_registry._PLUGINS.origins == {"mipi_matrix_x20": "harness-plugin-example"}
    assert {"vdn", "qmix", "mipi_matrix"} <= {*algorithm_registry.available(), *scenario_registry.available_scenarios()}


def test_plugins_load_on_first_use_and_once(example):
    assert example.calls == []
    algorithm_registry.available()
    algorithm_registry.get("vdn_huber")
    algorithm_registry.available()
    assert example.calls == [plugins.ALGORITHMS_GROUP]
    scenario_registry.available_scenarios()
    scenario_registry.scenario("mipi_matrix_x20")
    assert example.calls == [plugins.ALGORITHMS_GROUP, plugins.SCENARIOS_GROUP]


def test_example_suite_validates_expands_and_shrinks_to_a_smoke_run(example, capsys):
    runs = expand(load_suite(EXAMPLE_SUITE))
    assert {(r.algorithm, r.scenario) for r in runs} == {("vdn", "mipi_matrix_x20"), ("vdn_huber", "mipi_matrix_x20")}
    assert len(runs) == 6 and all(r.algorithm_config["huber_delta"] == 1.0 for r in runs if r.algorithm == "vdn_huber")
    small = expand(smoke(load_suite(EXAMPLE_SUITE)))
    huber = next(r for r in small if r.algorithm == "vdn_huber")
    assert len(small) == 2 and huber.algorithm_config["batch_size"] == 4   # smoke mode shrinks it like a built-in
    assert harness_main(["validate", str(EXAMPLE_SUITE)]) == 0
    assert "suite 'plugin-example', 6 runs" in capsys.readouterr().out


def test_a_plugin_hyperparameter_is_type_checked_in_a_suite(example, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(EXAMPLE_SUITE.read_text().replace("huber_delta: 1.0", 'huber_delta: "wide"'))
    with pytest.raises(SuiteError, match=r"algorithms\[1\]\.overrides\.huber_delta: vdn_huber\.huber_delta must be"):
        load_suite(path)
    path.write_text(EXAMPLE_SUITE.read_text().replace("huber_delta: 1.0", "huber_delta: -1.0"))
    with pytest.raises(SuiteError, match=r"vdn_huber refuses these overrides: huber_delta must be positive"):
        load_suite(path)


def test_a_plugin_algorithm_trains_alone_and_in_a_run_group_alike(example, tmp_path):
    specs = [dataclasses.replace(r, budget_env_steps=160, eval_interval=80, eval_episodes=4,
                                 algorithm_config=r.algorithm_config | {"batch_size": 4, "update_every": 4})
             for r in expand(load_suite(EXAMPLE_SUITE)) if r.algorithm == "vdn_huber"][:2]
    grouped = execute_group(specs, tmp_path / "group", lambda e: None)
    assert [r["status"] for r in grouped] == ["done", "done"], grouped
    for spec in specs:
        assert execute_run(spec, tmp_path / "alone", lambda e: None)["status"] == "done"
        records = [(out / "runs" / spec.run_id / "evals.jsonl").read_text() for out in (tmp_path / "group", tmp_path / "alone")]
        assert records[0] == records[1] and records[0]


def test_a_broken_entry_point_names_its_distribution_entry_point_and_exception(site, tmp_path):
    site.distribution("broken-plugin", {plugins.ALGORITHMS_GROUP: {"ghost": "ghost_module_missing:Ghost"}})
    with pytest.raises(plugins.PluginError) as caught:
        algorithm_registry.available()
    message = str(caught.value)
    assert "'ghost'" in message and "'broken-plugin'" in message and "ghost_module_missing:Ghost" in message
    assert "ModuleNotFoundError" in message and "\n" not in message
    with pytest.raises(plugins.PluginError, match="broken-plugin"):   # kept: never a half-loaded registry
        algorithm_registry.get("vdn")
    # a suite reports it as its one problem, at its list of algorithms
    path = tmp_path / "s.yaml"
    path.write_text(EXAMPLE_SUITE.read_text())
    with pytest.raises(SuiteError, match=r"s\.yaml:\d+: algorithms: plug-in 'ghost' of distribution 'broken-plugin'"):
        load_suite(path)
    # and the schema, which lists plug-in names too, names it instead of leaving it out
    from harness.cli import main
    assert main(["schema"]) == 2


def test_a_plugin_that_raises_on_import_is_reported_with_the_exception(site):
    site.distribution("raising-plugin", {plugins.SCENARIOS_GROUP: {"boom": "boom_scenario:ENTRY"}},
                      {"boom_scenario": "raise RuntimeError('no simulator here')\n"})
    with pytest.raises(plugins.PluginError, match=r"'boom' of distribution 'raising-plugin' .* failed to load: "
                                                  r"RuntimeError: no simulator here"):
        scenario_registry.available_scenarios()


@pytest.mark.parametrize("group, name, value, taken", [
    (plugins.ALGORITHMS_GROUP, "vdn", "clash_module:Algo", "the built-in algorithm"),
    (plugins.SCENARIOS_GROUP, "mipi_matrix", "clash_module:ENTRY", "the built-in scenario"),
])
def test_a_name_clash_with_a_builtin_is_refused(site, group, name, value, taken):
    site.distribution("clashing-plugin", {group: {name: value}}, {"clash_module": "raise AssertionError('imported')\n"})
    registry = algorithm_registry.available if group == plugins.ALGORITHMS_GROUP else scenario_registry.available_scenarios
    with pytest.raises(plugins.PluginError, match=rf"'{name}' of distribution 'clashing-plugin' .* is refused: .* "
                                                  rf"'{name}' is taken by {taken}"):
        registry()
    assert "clash_module" not in sys.modules   # refused before its module is imported


def test_a_name_clash_between_two_plugins_is_refused(example):
    example.distribution("copycat", {plugins.ALGORITHMS_GROUP: {"vdn_huber": "harness_plugin_example.vdn_huber:VDNHuber"}})
    # loaded by name, then distribution: copycat's comes first and the example's is refused
    with pytest.raises(plugins.PluginError, match=r"of distribution 'harness-plugin-example' .* 'vdn_huber' is "
                                                  r"taken by the algorithm of distribution 'copycat'"):
        algorithm_registry.available()


@pytest.mark.parametrize("group, name, value, problem", [
    (plugins.ALGORITHMS_GROUP, "huber", "harness_plugin_example.vdn_huber:VDNHuber",
     "the entry point's name must be the algorithm's name"),
    (plugins.ALGORITHMS_GROUP, "config", "harness_plugin_example.vdn_huber:VDNHuberConfig",
     "must point at a subclass of algorithms.base.Algorithm"),
    (plugins.SCENARIOS_GROUP, "mipi_x20", "harness_plugin_example.scenarios:MIPI_MATRIX_X20",
     "the entry point's name must be the scenario's name"),
    (plugins.SCENARIOS_GROUP, "game", "harness_plugin_example.scenarios:GAME",
     "must point at a harness.envs.registry.ScenarioEntry"),
])
def test_an_entry_point_to_the_wrong_object_is_refused(site, monkeypatch, group, name, value, problem):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    site.distribution("confused-plugin", {group: {name: value}})
    registry = algorithm_registry.available if group == plugins.ALGORITHMS_GROUP else scenario_registry.available_scenarios
    with pytest.raises(plugins.PluginError, match=rf"'{name}' of distribution 'confused-plugin' .* is refused: .*"):
        registry()
    with pytest.raises(plugins.PluginError) as caught:
        registry()
    assert problem in str(caught.value)
