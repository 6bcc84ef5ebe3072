"""Expansion: algorithm × scenario × seed in listed order, resolved configs, stable run ids."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.envs.base import CompositionSpec
from harness.spec import RunSpec
from harness.suite import SuiteError, expand, format_runs, load_suite
from harness.suite.models import Suite
from test_suite_fakes import FakeIndependentConfig, FakeMixerConfig, fake_registries  # noqa: F401

VALID = Path(__file__).parent / "data" / "suites" / "valid"

pytestmark = pytest.mark.usefixtures("fake_registries")


def _variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of a valid suite with one text replacement (which must apply)."""
    text = (VALID / name).read_text()
    assert old in text
    out = tmp_path / f"variant-{len(list(tmp_path.iterdir()))}.yaml"
    out.write_text(text.replace(old, new))
    return out


def _ids(path: Path) -> dict[str, str]:
    return {r.label: r.run_id for r in expand(load_suite(path))}


def test_runs_are_algorithm_by_scenario_by_seed_in_listed_order():
    runs = expand(load_suite(VALID / "full.yaml"))
    expected = [(a, s, seed) for a in ("iql", "vdn", "qmix") for s in ("climbing", "penalty", "3m")
                for seed in (0, 1, 2)]
    assert [(r.algorithm, r.scenario, r.seed) for r in runs] == expected


def test_seed_count_expands_to_first_n_seeds():
    runs = expand(load_suite(VALID / "minimal.yaml"))
    assert [r.seed for r in runs] == [0, 1]


def test_expansion_is_deterministic_across_loads():
    first = expand(load_suite(VALID / "full.yaml"))
    second = expand(load_suite(VALID / "full.yaml"))
    assert [r.to_dict() for r in first] == [r.to_dict() for r in second]
    assert [r.run_id for r in first] == [r.run_id for r in second]
    assert len({r.run_id for r in first}) == len(first)


def test_run_ids_survive_a_round_trip_through_dicts():
    for run in expand(load_suite(VALID / "generalisation.yaml")):
        assert RunSpec.from_dict(run.to_dict()).run_id == run.run_id


def test_changing_an_algorithm_override_changes_only_that_algorithms_ids(tmp_path):
    before = _ids(VALID / "full.yaml")
    after = _ids(_variant(tmp_path, "full.yaml", "overrides: {lr: 0.001}", "overrides: {lr: 0.003}"))
    changed = {label for label in before if before[label] != after[label]}
    assert changed == {label for label in before if label.startswith("vdn/")}


def test_changing_a_scenario_override_changes_only_that_scenarios_ids(tmp_path):
    before = _ids(VALID / "full.yaml")
    after = _ids(_variant(tmp_path, "full.yaml", "batch_size: 64", "batch_size: 128"))
    changed = {label for label in before if before[label] != after[label]}
    assert changed == {f"{a}/3m/seed{s}" for a in ("iql", "vdn", "qmix") for s in (0, 1, 2)}


def test_a_scenario_override_shadowed_by_the_algorithms_own_changes_no_ids(tmp_path):
    # 3m sets mixing_embed_dim 16, but qmix's own override (64) wins
    after = _ids(_variant(tmp_path, "full.yaml", "mixing_embed_dim: 16", "mixing_embed_dim: 8"))
    assert after == _ids(VALID / "full.yaml")


def test_comments_and_layout_do_not_change_run_ids(tmp_path):
    before = _ids(VALID / "full.yaml")
    assert _ids(_variant(tmp_path, "full.yaml", "seeds: [0, 1, 2]", "# three seeds\nseeds:\n  - 0\n  - 1\n  - 2")) == before


def test_an_integer_for_a_float_hyper_parameter_resolves_like_the_float(tmp_path):
    one = _ids(_variant(tmp_path, "full.yaml", "overrides: {lr: 0.001}", "overrides: {lr: 1}"))
    one_point_zero = _ids(_variant(tmp_path, "full.yaml", "overrides: {lr: 0.001}", "overrides: {lr: 1.0}"))
    assert one == one_point_zero


def test_algorithm_overrides_win_over_scenario_overrides_which_win_over_defaults():
    runs = {(r.algorithm, r.scenario): r.algorithm_config for r in expand(load_suite(VALID / "full.yaml"))}
    defaults = FakeMixerConfig()
    # climbing sets lr 0.01 and epsilon_anneal_steps 5000 for everyone
    assert runs["iql", "climbing"]["lr"] == 0.01
    assert runs["vdn", "climbing"]["lr"] == 0.001           # vdn's own lr wins
    assert runs["qmix", "climbing"]["lr"] == 0.002           # qmix's own lr wins
    assert runs["qmix", "climbing"]["epsilon_anneal_steps"] == 5000
    # 3m sets mixing_embed_dim (qmix only) and batch_size (everyone); qmix's own 64 wins
    assert runs["qmix", "3m"]["mixing_embed_dim"] == 64
    assert runs["qmix", "3m"]["batch_size"] == 64 and runs["iql", "3m"]["batch_size"] == 64
    assert "mixing_embed_dim" not in runs["iql", "3m"]
    # no overrides: defaults
    assert runs["iql", "penalty"] == FakeIndependentConfig().__dict__
    assert runs["qmix", "penalty"]["gamma"] == defaults.gamma


def test_scenario_budget_overrides_the_suite_budget():
    runs = expand(load_suite(VALID / "full.yaml"))
    budgets = {r.scenario: r.budget_env_steps for r in runs}
    assert budgets == {"climbing": 50_000, "penalty": 200_000, "3m": 200_000}


def test_run_specs_carry_evaluation_training_and_suite_settings():
    run = expand(load_suite(VALID / "full.yaml"))[-1]
    assert (run.suite, run.backend, run.device) == ("full-suite", "combat", "cpu")
    assert (run.eval_interval, run.eval_episodes, run.eval_greedy, run.eval_seed) == (10_000, 16, True, 7)
    assert (run.n_envs, run.checkpoint_interval, run.time_limit) == (4, 50_000, "terminal")
    assert run.train == CompositionSpec(agents=(3, 3))
    assert run.eval_sets == {"same": CompositionSpec(agents=(3, 3))}


def test_compositions_become_specs():
    sz = expand(load_suite(VALID / "generalisation.yaml"))[0]
    assert sz.train == CompositionSpec(agents=(3, 5), units=(("stalker", (1, 3)), ("zealot", (1, 3))))
    assert sz.eval_sets["8"] == CompositionSpec(agents=(8, 8))
    assert sz.eval_sets["mixed"] == CompositionSpec(agents=(6, 6), weights=(("stalker", 0.5), ("zealot", 0.5)))


def test_runs_do_not_share_config_dicts():
    runs = expand(load_suite(VALID / "minimal.yaml"))
    assert runs[0].algorithm_config is not runs[1].algorithm_config


def test_fixed_size_algorithm_on_other_eval_team_sizes_is_refused(tmp_path):
    path = _variant(tmp_path, "generalisation.yaml", "  - name: iql\n", "  - name: vdn\n")
    with pytest.raises(SuiteError) as info:
        expand(load_suite(path))
    message = str(info.value)
    assert message.startswith(f"{path}:13: scenarios[0].eval.6: algorithm 'vdn' cannot evaluate scenario 'SZ'")
    assert "capabilities.variable_team_size" in message


def test_fixed_size_algorithm_may_evaluate_on_the_training_size():
    runs = expand(load_suite(VALID / "full.yaml"))
    assert any(r.algorithm == "qmix" and r.scenario == "3m" and r.eval_sets for r in runs)


def test_suite_built_in_code_locates_errors_with_its_source_text():
    text = (VALID / "generalisation.yaml").read_text().replace("  - name: iql\n", "  - name: qmix\n")
    suite = Suite.model_validate(yaml.safe_load(text.replace("      8:", '      "8":')))
    with pytest.raises(SuiteError, match=r"^<suite>:13: scenarios\[0\]\.eval\.6: algorithm 'qmix'"):
        expand(suite, source_text=text)


def test_format_runs_lists_id_algorithm_scenario_seed():
    runs = expand(load_suite(VALID / "minimal.yaml"))
    assert format_runs(runs) == [(r.run_id, "iql", "climbing", r.seed) for r in runs]


def test_combat_options_enter_the_spec_and_default_options_leave_ids_alone(tmp_path):
    base = VALID / "full.yaml"
    plain = expand(load_suite(base))
    assert all(r.env_options == {} and "env_options" not in r.canonical_json() for r in plain)
    default = _variant(tmp_path, "full.yaml", "device: cpu\n", "device: cpu\ncombat: {compile: false, rules: sc2}\n")
    assert _ids(default) == _ids(base)
    tuned = expand(load_suite(_variant(tmp_path, "full.yaml", "device: cpu\n",
                                       "device: cpu\ncombat: {compile: true, chase_targets: false}\n")))
    assert {r.run_id for r in tuned}.isdisjoint({r.run_id for r in plain})
    assert all(r.env_options == {"compile": True, "chase_targets": False} for r in tuned)
    assert RunSpec.from_dict(tuned[0].to_dict()).run_id == tuned[0].run_id


def test_analysis_settings_and_report_tables_leave_run_ids_alone(tmp_path):
    """final_k and the report tables are read by analysis only: changing them must re-run nothing."""
    base = VALID / "full.yaml"
    k = _variant(tmp_path, "full.yaml", "  final_k: 3\n", "  final_k: 1\n")
    no_tables = tmp_path / "no-tables.yaml"
    no_tables.write_text(base.read_text().split("reports:")[0])
    assert _ids(k) == _ids(base) == _ids(no_tables)


def test_time_limit_is_part_of_the_run_spec(tmp_path):
    bootstrap = _variant(tmp_path, "full.yaml", "  n_envs: 4\n  time_limit: terminal\n", "  n_envs: 4\n")
    assert {r.time_limit for r in expand(load_suite(bootstrap))} == {"bootstrap"}
    assert set(_ids(bootstrap).values()).isdisjoint(_ids(VALID / "full.yaml").values())


def test_the_update_cadence_is_refused_in_the_training_block(tmp_path):
    path = _variant(tmp_path, "full.yaml", "  n_envs: 4\n", "  n_envs: 4\n  updates_per_round: 2\n")
    with pytest.raises(SuiteError, match=r"training\.updates_per_round: .*update_every"):
        load_suite(path)


def test_labelled_entries_let_one_algorithm_appear_twice_and_name_their_rows(tmp_path):
    """An ablation: the same algorithm under two labels runs twice, each run named by its label in
    listings and in the tidy frame, while unlabelled entries keep the ids they had."""
    before = _ids(VALID / "full.yaml")
    path = _variant(tmp_path, "full.yaml", "algorithms:\n  - iql\n",
                    "algorithms:\n  - iql\n  - {name: vdn, label: vdn-fast, overrides: {lr: 0.01}}\n")
    runs = expand(load_suite(path))
    fast = [r for r in runs if r.variant == "vdn-fast"]
    assert fast and all(r.algorithm == "vdn" and r.row_name == "vdn-fast" for r in fast)
    assert {r.label: r.run_id for r in runs if not r.variant} == before
    assert {row[1] for row in format_runs(runs)} >= {"vdn", "vdn-fast"}
    assert all(RunSpec.from_dict(r.to_dict()).run_id == r.run_id for r in fast)


def test_two_entries_with_one_row_name_are_refused(tmp_path):
    path = _variant(tmp_path, "full.yaml", "algorithms:\n  - iql\n", "algorithms:\n  - iql\n  - {name: qmix, label: vdn}\n")
    with pytest.raises(SuiteError, match="'vdn' is listed twice in algorithms"):
        load_suite(path)
