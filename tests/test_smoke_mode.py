"""Smoke mode (`harness run SUITE --smoke`): every pairing of a suite, one seed, a few thousand env
steps, each run reaching a learner update, under its own name; and the command line end to end."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from algorithms import registry as algorithm_registry
from harness.cli import _out_dir, _report_dir, build_parser, main
from harness.envs import registry as scenario_registry
from harness.spec import RunSpec
from harness.suite import expand, load_suite
from harness.suite.checks import registry_problems
from harness.suite.smoke import SMOKE_BATCH_EPISODES, SMOKE_EPOCHS, SMOKE_ENV_STEPS, SMOKE_EVAL_EPISODES, SMOKE_MIN_UPDATES, smoke

ROOT = Path(__file__).resolve().parents[1]
OPT = ROOT / "suites" / "papers" / "opt-table1.yaml"
QUICKSTART = ROOT / "suites" / "quickstart.yaml"
ALL_SUITES = sorted((ROOT / "suites").rglob("*.yaml"))

# a quick suite for the command line test: big budget and many seeds (for smoke to cut), an eval
# set, MAPPO (its 400-step horizon must shrink to fit the budget) and a batch too big for 2k steps
E2E_SUITE = """
name: smoke-e2e
seeds: 3
device: cpu
budget: {env_steps: 200_000}
training: {n_envs: 8}
evaluation: {interval: 10_000, episodes: 32, final_k: 3}
algorithms:
  - {name: vdn, overrides: {update_every: 8}}
  - mappo
scenarios:
  - name: mipi_matrix
    overrides: {epsilon_anneal_time: 1000}
    train: {teams: [[A, B], [B, A]]}
    eval: {BB: {teams: [[B, B]]}}
  - name: 3m
    overrides: {batch_size: 64}
reports:
  - {table: main, metric: final_win_rate, rows: algorithm, columns: [scenario, eval_set], cell: mean_std}
"""


def _pairings(specs: list[RunSpec]) -> set[tuple[str, str, tuple[str, ...]]]:
    return {(s.algorithm, s.scenario, tuple(sorted(s.eval_sets))) for s in specs}


def _updates_due(spec: RunSpec) -> int:
    """Learner updates a run of ``spec`` is sure to make within its budget, worked out from the run
    spec alone (episode rounds of n_envs episodes, or one transition per env step)."""
    cls, c = algorithm_registry.get(spec.algorithm), spec.algorithm_config
    if cls.collection == "steps":
        data = spec.budget_env_steps
    else:
        limit = scenario_registry.scenario(spec.scenario).episode_limit
        data = spec.n_envs * math.ceil(spec.budget_env_steps / (spec.n_envs * limit))
    needed = max([c[k] for k in ("batch_size", "warmup") if k in c], default=1)
    every = c.get("update_every", 1)
    first = math.ceil(needed / every) * every
    return 0 if first > data else 1 + (data - first) // every


def _first_update_is_due(spec: RunSpec) -> bool:
    return _updates_due(spec) >= 1


@pytest.mark.parametrize("path", [OPT, QUICKSTART], ids=lambda p: p.stem)
def test_smoke_keeps_every_pairing_with_one_seed_and_a_small_budget(path):
    suite = load_suite(path)
    full, reduced = expand(suite), expand(smoke(suite))
    assert _pairings(reduced) == _pairings(full)
    assert len(reduced) == len(full) // len(suite.seed_list)
    assert {s.seed for s in reduced} == {suite.seed_list[0]}
    assert all(s.suite == suite.name + "-smoke" for s in reduced)
    assert all(s.budget_env_steps <= 4 * SMOKE_ENV_STEPS for s in reduced)
    assert all(s.eval_interval == s.budget_env_steps for s in reduced)   # one evaluation, at the end
    assert all(s.eval_episodes <= SMOKE_EVAL_EPISODES for s in reduced)


def test_smoke_leaves_the_suite_it_was_given_unchanged():
    suite = load_suite(QUICKSTART)
    before = suite.model_dump()
    reduced = smoke(suite)
    assert suite.model_dump() == before and suite.name == "quickstart"
    assert reduced.name == "quickstart-smoke" and reduced.reports == suite.reports
    assert reduced.budget.env_steps == SMOKE_ENV_STEPS and reduced.seeds == 1
    assert reduced.source is suite.source


def test_opt_table1_smoke_fits_a_round_of_corridor_and_makes_a_few_small_updates():
    """corridor's 400-step episodes on 8 envs make one round 3,200 steps: the budget takes one round,
    sure to yield 8 episodes; every 32-episode batch comes down to 4 and an update falls due every 4th
    episode, so at least 2 updates (a smoke update checks that the update runs)."""
    suite = load_suite(OPT)
    reduced = smoke(suite)
    assert reduced.budget.env_steps == reduced.evaluation.interval == 8 * 400
    own = {a.name: a.overrides for a in suite.algorithm_entries}
    overrides = {a.name: a.overrides for a in reduced.algorithm_entries}
    assert {"iql", "vdn", "qmix", "opt"} <= set(overrides)
    assert overrides == {name: {**o, "batch_size": SMOKE_BATCH_EPISODES, "update_every": 4} for name, o in own.items()}
    assert all(_updates_due(s) >= SMOKE_MIN_UPDATES for s in expand(reduced))


def test_smoke_overrides_only_what_stops_an_update_and_keeps_the_suites_own(tmp_path):
    (tmp_path / "s.yaml").write_text(E2E_SUITE)
    reduced = smoke(load_suite(tmp_path / "s.yaml"))
    overrides = {a.name: a.overrides for a in reduced.algorithm_entries}
    # the suite's own batch of 32 (on 3m) comes down to 4 episodes; 8 episodes of <= 60 steps a round
    # make >= 5 rounds and 40 episodes in 2,000 steps, so an update every 20th (the suite's own: 8)
    assert overrides["vdn"] == {"update_every": 20, "batch_size": SMOKE_BATCH_EPISODES}
    # one round of 8 envs fits the interval, and one pass over it checks the update
    assert overrides["mappo"] == {"horizon": SMOKE_ENV_STEPS // 8, "epochs": SMOKE_EPOCHS}
    specs = expand(reduced)
    assert all(_first_update_is_due(s) for s in specs)
    assert {s.scenario: s.algorithm_config["epsilon_anneal_time"] for s in specs if s.algorithm == "vdn"} == {
        "mipi_matrix": 1000, "3m": 50_000}


def test_quickstart_smoke_changes_no_hyper_parameter_but_the_batch_and_the_update_cadence():
    reduced = smoke(load_suite(QUICKSTART))   # 2,000 steps of 3m: >= 5 rounds of 8, 40 episodes
    assert all(a.overrides == {"batch_size": SMOKE_BATCH_EPISODES, "update_every": 20}
               for a in reduced.algorithm_entries)


@pytest.mark.parametrize("path", ALL_SUITES, ids=lambda p: str(p.relative_to(ROOT / "suites")))
def test_every_committed_suite_smokes_to_a_valid_suite_whose_runs_all_update(path):
    suite = load_suite(path)
    reduced = smoke(suite)
    assert registry_problems(reduced) == []
    specs = expand(reduced)
    assert _pairings(specs) == _pairings(expand(suite))
    assert all(_first_update_is_due(s) for s in specs)
    assert all(_updates_due(s) >= SMOKE_MIN_UPDATES for s in specs if "update_every" in s.algorithm_config
               and algorithm_registry.get(s.algorithm).collection == "episodes")
    for s in specs:   # the runner refuses an evaluation interval shorter than one collection round
        cls = algorithm_registry.get(s.algorithm)
        per_env = s.algorithm_config.get("horizon", 1) if cls.collection == "steps" else \
            scenario_registry.scenario(s.scenario).episode_limit
        assert s.n_envs * per_env <= s.eval_interval <= s.budget_env_steps


def test_smoke_flag_gives_the_smoke_suite_its_own_folders():
    args = build_parser().parse_args(["report", str(QUICKSTART), "--smoke"])
    assert args.smoke
    reduced = smoke(load_suite(QUICKSTART))
    assert _out_dir(args, reduced) == Path("runs") / "quickstart-smoke"
    assert _report_dir(args, reduced) == Path("reports") / "quickstart-smoke"
    for command in ("run", "status", "list"):
        assert build_parser().parse_args([command, str(QUICKSTART), "--smoke"]).smoke


def test_smoke_run_from_the_command_line_finishes_every_run_and_writes_a_marked_report(tmp_path, capsys):
    (tmp_path / "suite.yaml").write_text(E2E_SUITE)
    out, report = tmp_path / "runs", tmp_path / "report"
    argv = [str(tmp_path / "suite.yaml"), "--smoke", "--out", str(out)]
    assert main(["run", *argv, "--report-dir", str(report), "--no-tracking"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("smoke run: smoke-e2e-smoke: 4 runs of 2,000 env steps")
    assert "4 runs finished, 0 failed" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suite"] == "smoke-e2e-smoke" and manifest["provenance"]["smoke"] is True
    assert len(manifest["run_ids"]) == 4
    for run_id in manifest["run_ids"]:
        run = out / "runs" / run_id
        status = json.loads((run / "status.json").read_text())
        assert status["status"] == "done" and status["t_env"] >= SMOKE_ENV_STEPS, run_id
        assert (run / "train.jsonl").read_text().strip(), f"{run_id} made no learner update"
    assert "smoke-e2e-smoke / main" in (report / "summary.md").read_text()
    table = (report / "main.md").read_text()
    assert "- smoke: `true`" in table and "- suite: `smoke-e2e-smoke`" in table   # its provenance block

    assert main(["status", *argv]) == 0
    assert "done: 4" in capsys.readouterr().out
    assert main(["report", *argv, "--report-dir", str(report)]) == 0
    assert "report written to" in capsys.readouterr().out
