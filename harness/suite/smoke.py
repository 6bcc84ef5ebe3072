"""Smoke mode: any suite shrunk to a few thousand env steps, so CI can run every suite end to end.

:func:`smoke` keeps every algorithm × scenario × eval-set pairing and the report tables, and cuts
the rest: one seed, :data:`SMOKE_ENV_STEPS` env steps (or one collection round of the longest
episode, if that is longer), an evaluation interval equal to the budget (evaluations at the start
and the end only) on :data:`SMOKE_EVAL_EPISODES` episodes, and its own name (``<name>-smoke``), so
its runs and report go to their own folders. Through the algorithms' ``overrides``, episode-batch
learners sample at most :data:`SMOKE_BATCH_EPISODES` episodes per update and update every k-th
episode, k such that at least :data:`SMOKE_MIN_UPDATES` updates fall due (an entity algorithm's
update takes seconds on a CPU, and a smoke run checks that the update runs, not what it learns),
rollout learners make at most :data:`SMOKE_EPOCHS` passes over each rollout (for the same reason),
and hyper-parameters that would leave a run of that length without a learner update are lowered;
nothing else about the algorithms changes.
"""
from __future__ import annotations

import dataclasses
import math

from algorithms import registry as algorithm_registry
from harness.envs import registry as scenario_registry
from harness.suite.hyperparams import normalise
from harness.suite.models import AlgorithmEntry, Budget, ScenarioEntry, Suite

SMOKE_ENV_STEPS = 2_000
SMOKE_EVAL_EPISODES = 4
SMOKE_SUFFIX = "-smoke"
SMOKE_BATCH_EPISODES = 4
SMOKE_MIN_UPDATES = 2
SMOKE_EPOCHS = 1

# config fields an algorithm must have collected enough data for before its first update (in its
# collection's unit: episodes for episode collection, transitions for step collection), and the
# field counting the same unit between updates
_WARMUP_KEYS = ("batch_size", "warmup")
_CADENCE_KEY = "update_every"
_HORIZON_KEY = "horizon"   # steps per environment per round, for step collection
_EPOCHS_KEY = "epochs"     # passes over each rollout, for step collection


def smoke(suite: Suite) -> Suite:
    """A reduced copy of the validated ``suite`` for a smoke run (the original is unchanged)."""
    n_envs = suite.training.n_envs   # fewer envs would make more, slower env calls for the same steps
    limits = [lim for s in suite.scenario_entries if (lim := _episode_limit(s.name)) is not None]
    one_round = n_envs * max(limits, default=1)   # the runner refuses a shorter evaluation interval
    budget = _shrink(suite.budget.env_steps, one_round)
    scenarios = [s if isinstance(s, str) or s.budget is None
                 else s.model_copy(update={"budget": Budget(env_steps=_shrink(s.budget.env_steps, one_round))})
                 for s in suite.scenarios]
    entries = [ScenarioEntry(name=s) if isinstance(s, str) else s for s in scenarios]
    interval = min([budget, *(s.budget.env_steps for s in entries if s.budget is not None)])
    algorithms = []
    for a in suite.algorithms:
        entry = AlgorithmEntry(name=a) if isinstance(a, str) else a
        extra = _learner_overrides(entry, entries, budget, n_envs, interval)
        algorithms.append(a if not extra else entry.model_copy(update={"overrides": {**entry.overrides, **extra}}))
    seeds = 1 if isinstance(suite.seeds, int) else suite.seeds[:1]
    evaluation = suite.evaluation.model_copy(update={
        "interval": interval, "episodes": min(suite.evaluation.episodes, SMOKE_EVAL_EPISODES), "final_k": 1})
    reduced = Suite.model_validate(dict(suite) | {
        "name": suite.name + SMOKE_SUFFIX, "seeds": seeds, "budget": Budget(env_steps=budget),
        "evaluation": evaluation, "algorithms": algorithms, "scenarios": scenarios})
    reduced._source = suite.source   # errors found later still point at the suite's file
    return reduced


def _learner_overrides(alg: AlgorithmEntry, scenarios: list[ScenarioEntry], budget: int, n_envs: int,
                      interval: int) -> dict[str, int]:
    """Overrides of ``alg`` that let each of its runs on ``scenarios`` make at least one learner
    update within its budget and fit a collection round in ``interval``; empty when none is needed."""
    cls = algorithm_registry.get(alg.name)
    resolved = [(s, c) for s in scenarios if (c := _effective_config(alg, s)) is not None]
    if not resolved:
        return {}
    configs = [c for _, c in resolved]
    data = [_data_by_end(cls.collection, (s.budget or Budget(env_steps=budget)).env_steps, n_envs, s.name)
            for s, _ in resolved]
    out: dict[str, int] = {}
    if cls.collection == "episodes" and "batch_size" in configs[0]:
        batch = min(SMOKE_BATCH_EPISODES, *(c["batch_size"] for c in configs))
        if any(c["batch_size"] != batch for c in configs):
            out["batch_size"] = batch
        configs = [c | {"batch_size": batch} for c in configs]
        if _CADENCE_KEY in configs[0]:
            every = max(batch, min(data) // SMOKE_MIN_UPDATES, *(c[_CADENCE_KEY] for c in configs))
            if any(c[_CADENCE_KEY] != every for c in configs):
                out[_CADENCE_KEY] = every
            configs = [c | {_CADENCE_KEY: every} for c in configs]
    if cls.collection == "steps" and _HORIZON_KEY in configs[0]:
        horizon = min(max(1, interval // n_envs), *(c[_HORIZON_KEY] for c in configs))
        if any(c[_HORIZON_KEY] != horizon for c in configs):
            out[_HORIZON_KEY] = horizon
    if cls.collection == "steps" and _EPOCHS_KEY in configs[0]:
        epochs = min(SMOKE_EPOCHS, *(c[_EPOCHS_KEY] for c in configs))
        if any(c[_EPOCHS_KEY] != epochs for c in configs):
            out[_EPOCHS_KEY] = epochs
    warmup_keys = [k for k in _WARMUP_KEYS if k in configs[0]]
    if not warmup_keys:
        return out
    every = [c.get(_CADENCE_KEY, 1) for c in configs]
    need = [max(c[k] for k in warmup_keys) for c in configs]
    if all(_updates_by_end(t, e, d) for t, e, d in zip(need, every, data)):
        return out
    # one value per key for every scenario (an algorithm's overrides apply to all of them), no
    # higher than any scenario's: with every <= least and each warm-up <= a multiple of every <= least,
    # an update falls due with enough data on every scenario
    least = min(data)
    new_every = min(*every, least)
    cap = least - least % new_every
    if _CADENCE_KEY in configs[0] and any(e != new_every for e in every):
        out[_CADENCE_KEY] = new_every
    for k in warmup_keys:
        value = min(cap, *(c[k] for c in configs))
        if any(c[k] != value for c in configs):
            out[k] = value
    return out


def summary(suite: Suite, runs: int) -> str:
    """One line saying that ``suite`` (a :func:`smoke` result) is a smoke run, and how small it is."""
    return (f"smoke run: {suite.name}: {runs} runs of {suite.budget.env_steps:,} env steps, "
            f"seed {suite.seed_list[0]}, {suite.evaluation.episodes} evaluation episodes per set "
            "(checks that everything runs; its numbers mean nothing)")


def _shrink(env_steps: int, one_round: int) -> int:
    """A smoke budget: SMOKE_ENV_STEPS, or one collection round if that is longer, and never more
    than the suite's own ``env_steps``."""
    return min(env_steps, max(SMOKE_ENV_STEPS, one_round))


def _updates_by_end(needed: int, every: int, data: int) -> bool:
    """Whether a learner that needs ``needed`` units of data and updates every ``every`` units has
    an update due with enough data once ``data`` units are in: some multiple of ``every`` in
    [needed, data] (at the update due there, at least that many units are stored)."""
    return math.ceil(max(needed, 1) / every) * every <= data


def _data_by_end(collection: str, budget: int, n_envs: int, scenario: str) -> int:
    """Units of data a run is sure to have collected by the end of ``budget``: every counted env
    step is a stored transition for step collection; for episode collection, n_envs episodes per
    round, and at least budget / (n_envs x episode limit) rounds."""
    if collection == "steps":
        return budget
    limit = _episode_limit(scenario)
    rounds = math.ceil(budget / (n_envs * limit)) if limit else 1
    return n_envs * rounds


def _effective_config(alg: AlgorithmEntry, scen: ScenarioEntry) -> dict | None:
    """The algorithm's config on ``scen`` as :func:`harness.suite.expand.expand` resolves it
    (defaults < scenario overrides < algorithm overrides); None if it refuses them (expand reports it)."""
    config_cls = algorithm_registry.config_class(alg.name)
    own = set(config_cls.field_names())
    merged = {k: v for k, v in scen.overrides.items() if k in own} | dict(alg.overrides)
    try:
        return dataclasses.asdict(config_cls.from_overrides(normalise(config_cls, merged)))
    except (KeyError, TypeError, ValueError):
        return None


def _episode_limit(name: str) -> int | None:
    try:
        return scenario_registry.scenario(name).episode_limit
    except KeyError:
        return None
