"""`--set KEY=VALUE` overrides: parsed as YAML, applied before validation, hashed, recorded, wired into the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import _out_dir, build_parser, main
from harness.suite import SuiteError, expand, load_suite, suite_hash
from harness.suite.loader import _read
from harness.suite.overrides import NAME_SUFFIX, OverrideError, apply_overrides, overrides_of, parse_override

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "suites" / "quickstart.yaml"

TINY = """\
name: tiny
seeds: 2
device: cpu
budget: {env_steps: 400}
evaluation: {interval: 200, episodes: 4}
algorithms:
  - vdn
  - {name: qmix, label: qmix-small, overrides: {mixing_embed_dim: 8}}
  - {name: qmix, overrides: {lr: 0.001}}
scenarios:
  - name: mipi_matrix
    overrides: {epsilon_anneal_time: 100}
    train: {teams: [[A, B], [B, A]]}
    eval: {BB: {teams: [[B, B]]}}
  - climbing
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.mark.parametrize("text, key, value", [
    ("seeds=2", ("seeds",), 2),
    ("evaluation.greedy=false", ("evaluation", "greedy"), False),
    ("training.n_envs = 4", ("training", "n_envs"), 4),
    ("combat.chase_targets=", ("combat", "chase_targets"), None),
    ("algorithms.qmix.overrides.lr=0.5", ("algorithms", "qmix", "overrides", "lr"), 0.5),
    ("algorithms=[qmix, vdn]", ("algorithms",), ["qmix", "vdn"]),
    ("seeds=[0, 3]", ("seeds",), [0, 3]),
    ("budget={env_steps: 20_000}", ("budget",), {"env_steps": 20000}),
    ("description=a quick try = fast", ("description",), "a quick try = fast"),
    ("scenarios.0.eval.6={agents: 6}", ("scenarios", "0", "eval", "6"), {"agents": 6}),
])
def test_value_is_read_as_yaml_and_key_is_split_on_dots(text, key, value):
    o = parse_override(text)
    assert (o.text, o.key, o.value) == (text, key, value)
    assert type(o.value) is type(value)


@pytest.mark.parametrize("text, words", [
    ("seeds2", "expected KEY=VALUE"),
    ("=2", "key before '=' is empty"),
    ("budget..env_steps=1", "none empty"),
    ("seeds=[0, 1", "cannot read the value '[0, 1'"),
    ("budget={env_steps: 1", "cannot read the value"),
])
def test_malformed_override_is_one_clear_line_naming_it(text, words):
    with pytest.raises(OverrideError) as info:
        parse_override(text)
    message = str(info.value)
    assert message.startswith(f"--set {text}: ") and words in message and "\n" not in message
    assert isinstance(info.value, SuiteError)


def test_nested_keys_set_values_and_create_missing_mappings(tiny):
    suite = load_suite(tiny, ["budget.env_steps=800", "training.n_envs=4", "evaluation.episodes=2",
                              "scenarios.climbing.budget.env_steps=600", "combat.rules=smax"])
    assert suite.budget.env_steps == 800 and suite.training.n_envs == 4 and suite.evaluation.episodes == 2
    assert suite.evaluation.interval == 200                           # untouched keys keep the file's values
    assert suite.scenario_entries[1].budget.env_steps == 600          # "climbing" became {name: climbing, budget: ...}
    assert suite.combat.rules == "smax"
    data, _ = _read(tiny)
    assert data["budget"] == {"env_steps": 400}                       # the file's data is not changed


def test_overrides_change_the_expanded_run_specs(tiny):
    plain = expand(load_suite(tiny))
    specs = expand(load_suite(tiny, ["seeds=[5]", "budget.env_steps=1000", "scenarios.mipi_matrix.overrides."
                                     "epsilon_anneal_time=7", "algorithms.vdn.overrides.lr=0.01"]))
    assert len(plain) == 3 * 2 * 2 and len(specs) == 3 * 2 * 1
    assert {s.seed for s in specs} == {5} and {s.budget_env_steps for s in specs} == {1000}
    vdn = [s for s in specs if s.row_name == "vdn"]
    assert {s.algorithm_config["lr"] for s in vdn} == {0.01}
    assert {s.algorithm_config["lr"] for s in specs if s.row_name == "qmix"} == {0.001}
    mipi = [s for s in specs if s.scenario == "mipi_matrix"]
    assert {s.algorithm_config["epsilon_anneal_time"] for s in mipi} == {7}
    assert all(set(s.eval_sets) == {"BB"} for s in mipi)              # the scenario's own settings stay
    assert not {s.run_id for s in specs} & {s.run_id for s in plain}


def test_a_list_of_names_selects_the_suites_entries_keeping_their_settings(tiny):
    suite = load_suite(tiny, ["algorithms=[qmix-small, vdn]", "scenarios=[mipi_matrix]"])
    assert [a.row_name for a in suite.algorithm_entries] == ["qmix-small", "vdn"]   # in the listed order
    assert suite.algorithm_entries[0].overrides == {"mixing_embed_dim": 8}
    assert suite.scenario_entries[0].train is not None and set(suite.scenario_entries[0].eval) == {"BB"}
    # a row name picks that entry only; a name not in the suite is a new plain entry
    suite = load_suite(tiny, ["algorithms=[qmix, iql]"])
    assert [(a.name, a.row_name, a.overrides) for a in suite.algorithm_entries] == [
        ("qmix", "qmix", {"lr": 0.001}), ("iql", "iql", {})]
    # a mapping is taken as given
    suite = load_suite(tiny, ["algorithms=[{name: vdn, label: vdn-fast, overrides: {lr: 0.01}}]"])
    assert [(a.row_name, a.overrides) for a in suite.algorithm_entries] == [("vdn-fast", {"lr": 0.01})]


def test_quickstart_with_the_readme_example_expands_to_the_overridden_runs():
    specs = expand(load_suite(QUICKSTART, ["seeds=2", "budget.env_steps=20000", "algorithms=[qmix]"]))
    assert len(specs) == 1 * 4 * 2
    assert {s.algorithm for s in specs} == {"qmix"} and {s.seed for s in specs} == {0, 1}
    assert {s.budget_env_steps for s in specs} == {20000}


@pytest.mark.parametrize("text, key, allowed", [
    ("budget.env_stepz=1", "budget.env_stepz", "allowed: env_steps (did you mean 'env_steps'?)"),
    ("seedz=2", "seedz", "allowed: algorithms, backend, budget, combat, description, device, evaluation, name, "
                         "reports, resources, scenarios, seeds, training (did you mean 'seeds'?)"),
    ("training.n_env=2", "training.n_env", "allowed: checkpoint_interval, group_seeds, n_envs, snapshot_interval, time_limit"),
    ("algorithms.qmix-small.lable=x", "algorithms[1].lable", "allowed: label, name, overrides"),
    ("scenarios.3m.budget.env_steps=1", "scenarios.3m", "allowed: an index 0..1 or a name: mipi_matrix, climbing"),
    ("seeds.0=1", "seeds.0", "seeds is 2, not a mapping or a list"),
])
def test_bad_key_names_the_override_the_key_and_what_is_allowed(tiny, text, key, allowed):
    with pytest.raises(OverrideError) as info:
        load_suite(tiny, [text])
    message = str(info.value)
    assert message.startswith(f"--set {text}: {key}: ") and allowed in message, message
    assert str(tiny) not in message                                   # not a line of the file


def test_bad_value_names_the_override_and_other_problems_say_overrides_were_applied(tiny):
    with pytest.raises(OverrideError, match=r"^--set seeds=0: seeds: seeds must be a positive count"):
        load_suite(tiny, ["seeds=0"])
    with pytest.raises(OverrideError, match=r"^--set budget.env_steps=many: budget.env_steps: expected an integer"):
        load_suite(tiny, ["budget.env_steps=many"])
    with pytest.raises(OverrideError, match=r"^--set algorithms=\[qmx\]: algorithms\[0\]: unknown algorithm 'qmx'"):
        load_suite(tiny, ["algorithms=[qmx]"])
    with pytest.raises(OverrideError, match=r"algorithms\[0\]\.overrides\.lrr: 'lrr' is not a hyper-parameter of vdn"):
        load_suite(tiny, ["algorithms.vdn.overrides.lrr=1"])
    # the file's interval no longer fits the overridden budget: located in the file, naming the override
    with pytest.raises(SuiteError, match=r"tiny.yaml:5: evaluation.interval: .* \(with --set budget.env_steps=100\)$"):
        load_suite(tiny, ["budget.env_steps=100"])


def test_hash_and_name_change_with_the_overrides(tiny):
    plain = suite_hash(tiny)
    assert suite_hash(tiny, ["seeds=2"]) != plain                     # even one that keeps the file's value
    assert suite_hash(tiny, ["seeds=3"]) != suite_hash(tiny, ["seeds=2"])
    assert suite_hash(tiny, ["seeds=3"]) == suite_hash(tiny, ["seeds=3"])
    suite = load_suite(tiny, ["seeds=3"])
    assert suite.name.startswith("tiny" + NAME_SUFFIX) and len(suite.name) == len("tiny" + NAME_SUFFIX) + 8
    assert load_suite(tiny, ["seeds=3"]).name == suite.name           # status and report find run's folder
    assert overrides_of(suite) == ("seeds=3",) and overrides_of(load_suite(tiny)) == ()
    named = load_suite(tiny, ["seeds=3", "name=tiny-3seeds"])         # a name set explicitly is kept
    assert named.name == "tiny-3seeds"
    assert _out_dir(build_parser().parse_args(["status", str(tiny)]), suite) == Path("runs") / suite.name


def test_apply_overrides_leaves_its_input_alone(tiny):
    data, source = _read(tiny)
    before = json.dumps(data, sort_keys=True)
    out, overridden = apply_overrides(data, source, ["algorithms.vdn.overrides.lr=0.1", "seeds=1"])
    assert json.dumps(data, sort_keys=True) == before
    assert out["algorithms"][0] == {"name": "vdn", "overrides": {"lr": 0.1}} and out["seeds"] == 1
    assert overridden.applied == ((("algorithms", 0, "overrides", "lr"), "algorithms.vdn.overrides.lr=0.1"),
                                  (("seeds",), "seeds=1"))


@pytest.mark.parametrize("command", [["run"], ["status"], ["report"], ["validate"], ["list"],
                                     ["regress", "--baseline", "b.json"]])
def test_every_suite_command_takes_repeated_set(command):
    args = build_parser().parse_args([command[0], "s.yaml", *command[1:], "--set", "seeds=1", "--set", "a.b=[x]"])
    assert args.overrides == ["seeds=1", "a.b=[x]"]
    assert build_parser().parse_args([command[0], "s.yaml", *command[1:]]).overrides is None


def test_validate_with_a_bad_override_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["validate", str(QUICKSTART), "--set", "budget.env_stepz=1"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == ("--set budget.env_stepz=1: budget.env_stepz: unknown key 'env_stepz'; allowed: env_steps "
                   "(did you mean 'env_steps'?)")


def test_run_with_overrides_from_the_command_line_makes_the_overridden_runs(tmp_path, capsys):
    out, report = tmp_path / "runs", tmp_path / "report"
    sets = ["--set", "seeds=[4]", "--set", "algorithms=[qmix, vdn]", "--set", "scenarios=[mipi_matrix]",
            "--set", "budget.env_steps=400", "--set", "evaluation.interval=200"]
    argv = [str(QUICKSTART), "--smoke", *sets, "--out", str(out)]
    assert main(["run", *argv, "--report-dir", str(report), "--no-tracking"]) == 0
    printed = capsys.readouterr().out
    assert "2 runs finished, 0 failed" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suite"].startswith("quickstart" + NAME_SUFFIX) and manifest["suite"].endswith("-smoke")
    assert manifest["suite_hash"] == suite_hash(QUICKSTART, [s for s in sets if s != "--set"])
    assert manifest["suite_hash"] != suite_hash(QUICKSTART)
    assert manifest["provenance"]["overrides"] == [s for s in sets if s != "--set"]
    assert len(manifest["run_ids"]) == 2
    specs = [json.loads((out / "runs" / r / "spec.json").read_text()) for r in manifest["run_ids"]]
    assert sorted(s["algorithm"] for s in specs) == ["qmix", "vdn"]
    assert {(s["scenario"], s["seed"], s["budget_env_steps"]) for s in specs} == {("mipi_matrix", 4, 400)}
    for r in manifest["run_ids"]:
        assert json.loads((out / "runs" / r / "status.json").read_text())["status"] == "done"
    table = (report / "final_win_rate.md").read_text()
    assert "- overrides: `[\"seeds=[4]\", \"algorithms=[qmix, vdn]\"" in table   # the report's provenance

    assert main(["status", *argv]) == 0                               # the same --set finds the same runs
    assert "done: 2" in capsys.readouterr().out
    assert main(["status", str(QUICKSTART), "--smoke", "--out", str(out)]) == 0   # the plain suite's are apart
    assert "pending: 12" in capsys.readouterr().out


def test_overriding_only_execution_resources_keeps_the_suites_runs(tiny):
    """`resources` change where and how runs execute, not what they compute: the run ids stay."""
    plain = expand(load_suite(tiny))
    more_cpus = load_suite(tiny, ["resources.cpus_per_run=4", "resources.slurm.partition=gpu"])
    assert more_cpus.name == "tiny" and more_cpus.resources.cpus_per_run == 4
    assert [s.run_id for s in expand(more_cpus)] == [s.run_id for s in plain]
    mixed = load_suite(tiny, ["resources.cpus_per_run=4", "seeds=1"])
    assert mixed.name.startswith("tiny" + NAME_SUFFIX)
