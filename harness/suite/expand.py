"""Expand a suite into its runs: algorithm × scenario × seed, in the order the suite lists them.

Each run's config is fully resolved (algorithm defaults, then scenario overrides the algorithm has,
then the algorithm's own overrides), so :attr:`RunSpec.run_id` identifies it across re-runs.
"""
from __future__ import annotations

import copy
import dataclasses

from algorithms import registry as algorithm_registry
from harness.envs.base import CompositionSpec
from harness.spec import RunSpec
from harness.suite.errors import Path
from harness.suite.hyperparams import normalise
from harness.suite.models import AlgorithmEntry, ScenarioEntry, Suite
from harness.suite.source import SourceMap, read_yaml


def expand(suite: Suite, source_text: str | None = None) -> list[RunSpec]:
    """All runs of ``suite``; raise :class:`SuiteError` for an algorithm that cannot run a scenario.

    Errors are located with the suite's source map, or with ``source_text`` for a suite built in code.
    """
    source = suite.source or _source_from(source_text)
    runs: list[RunSpec] = []
    for i, alg in enumerate(suite.algorithm_entries):
        for j, scen in enumerate(suite.scenario_entries):
            conflict = capability_conflict(alg.name, scen)
            if conflict is not None:
                raise source.error(("scenarios", j, *conflict[0]), conflict[1])
            config = _resolve_config(alg, scen, source, i, j)
            for seed in suite.seed_list:
                runs.append(_run(suite, alg.name, config, scen, seed, alg.label or ""))
    return runs


def format_runs(specs: list[RunSpec]) -> list[tuple[str, str, str, int]]:
    """Rows ``(run_id, algorithm, scenario, seed)`` for listing runs."""
    return [(s.run_id, s.row_name, s.scenario, s.seed) for s in specs]


def capability_conflict(algorithm: str, scenario: ScenarioEntry) -> tuple[Path, str] | None:
    """Where (relative to the scenario entry) and why ``algorithm`` cannot run ``scenario``, or None.

    An algorithm without ``variable_team_size`` cannot be evaluated on eval sets whose agent counts
    differ from training's; counts left to the scenario's defaults are not compared.
    """
    if algorithm_registry.get(algorithm).capabilities.variable_team_size:
        return None
    trained = agent_counts(scenario.train.to_spec()) if scenario.train else None
    for name, comp in scenario.eval.items():
        counts = agent_counts(comp.to_spec())
        if trained is not None and counts is not None and counts != trained:
            return ("eval", name), (
                f"algorithm {algorithm!r} cannot evaluate scenario {scenario.name!r} on eval set {name!r} "
                f"with {_span(counts)} agents after training on {_span(trained)} (it lacks "
                f"capabilities.variable_team_size); remove one of them from the suite")
    return None


def agent_counts(spec: CompositionSpec) -> tuple[int, int] | None:
    """Inclusive (lo, hi) number of controlled agents a composition spec allows, None if unstated."""
    if spec.agents is not None:
        return spec.agents
    if spec.units is not None:
        return sum(r[0] for _, r in spec.units), sum(r[1] for _, r in spec.units)
    if spec.teams is not None:
        sizes = [len(t) for t in spec.teams]
        return min(sizes), max(sizes)
    return None


def _span(r: tuple[int, int]) -> str:
    return str(r[0]) if r[0] == r[1] else f"{r[0]}..{r[1]}"


def _resolve_config(alg: AlgorithmEntry, scen: ScenarioEntry, source: SourceMap, i: int, j: int) -> dict:
    """The algorithm's config as a plain dict: defaults < scenario overrides < algorithm overrides."""
    config_cls = algorithm_registry.config_class(alg.name)
    own = set(config_cls.field_names())
    merged = {k: v for k, v in scen.overrides.items() if k in own} | dict(alg.overrides)
    try:
        config = config_cls.from_overrides(normalise(config_cls, merged))
    except (KeyError, TypeError, ValueError) as err:
        at = ("scenarios", j, "overrides") if scen.overrides else ("algorithms", i, "overrides")
        raise source.error(at, f"{alg.name} on {scen.name} refuses the merged overrides {merged}: {err}") from None
    return dataclasses.asdict(config)


def _run(suite: Suite, algorithm: str, config: dict, scen: ScenarioEntry, seed: int, variant: str = "") -> RunSpec:
    budget = scen.budget or suite.budget
    return RunSpec(
        suite=suite.name,
        algorithm=algorithm,
        algorithm_config=copy.deepcopy(config),   # runs share no mutable state
        scenario=scen.name,
        seed=seed,
        budget_env_steps=budget.env_steps,
        eval_interval=suite.evaluation.interval,
        eval_episodes=suite.evaluation.episodes,
        backend=suite.backend,
        train=scen.train.to_spec() if scen.train else None,
        eval_sets={name: comp.to_spec() for name, comp in scen.eval.items()},
        eval_greedy=suite.evaluation.greedy,
        eval_seed=suite.evaluation.seed,
        n_envs=suite.training.n_envs,
        time_limit=suite.training.time_limit,
        checkpoint_interval=suite.training.checkpoint_interval,
        snapshot_interval=suite.training.snapshot_interval,
        device=suite.device,
        env_options=suite.combat.env_options(),
        variant=variant,
    )


def _source_from(text: str | None) -> SourceMap:
    """Lines for a suite built in code: from its text if given, else none (errors point at line 1)."""
    if text is None:
        return SourceMap("<suite>", {})
    return read_yaml(text, "<suite>")[1]
