"""Typed models of the suite YAML format (validated with pydantic; unknown keys are errors).

These checks need nothing but the suite itself; checks against the algorithm and scenario
registries live in :mod:`harness.suite.checks`. The loader validates files in strict mode (YAML
``"5"`` is not the count 5); suites built in code get pydantic's usual coercions.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from harness.envs.base import CompositionSpec
from harness.spec import TRAIN_SET
from harness.suite.errors import FieldError, allowed_hint
from harness.suite.source import SourceMap

Dim = Literal["algorithm", "scenario", "eval_set", "composition"]
Metric = Literal["final_win_rate", "auc_win_rate", "final_return", "auc_return"]


class _Strict(BaseModel):
    """Frozen, with unknown keys forbidden."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _range(v: int | list[int] | tuple[int, int] | None, key: str) -> tuple[int, int] | None:
    """A count ``n`` or a ``[lo, hi]`` pair as an inclusive ``(lo, hi)`` range; None stays None."""
    if v is None:
        return None
    if isinstance(v, int):
        v = [v, v]
    if len(v) != 2:
        raise ValueError(f"{key} must be a count or a [lo, hi] pair, got {list(v)}")
    lo, hi = int(v[0]), int(v[1])
    if lo < 0 or hi < lo:
        raise ValueError(f"{key} range [{lo}, {hi}] must satisfy 0 <= lo <= hi")
    return lo, hi


class Composition(_Strict):
    """Team compositions drawn per episode: agent/enemy counts, unit ranges, weights or explicit teams."""

    agents: int | list[int] | None = None
    enemies: int | list[int] | None = None
    units: dict[str, int | list[int]] | None = None
    weights: dict[str, float] | None = None
    teams: list[list[str]] | None = Field(default=None, min_length=1)

    @field_validator("agents", "enemies")
    @classmethod
    def _count(cls, v, info):
        r = _range(v, info.field_name)
        if r is not None and r[0] < 1:
            raise ValueError(f"{info.field_name} must be at least 1, got {v}; zero-agent teams are not allowed")
        return v

    @field_validator("units")
    @classmethod
    def _units(cls, v):
        for k, r in (v or {}).items():
            try:
                _range(r, k)
            except ValueError as err:
                raise FieldError((k,), str(err)) from None
        return v

    @field_validator("weights")
    @classmethod
    def _weights(cls, v):
        for k, w in (v or {}).items():
            if w < 0:
                raise FieldError((k,), f"weight of {k} must be >= 0, got {w}")
        if v is not None and not any(w > 0 for w in v.values()):
            raise ValueError(f"at least one weight must be positive, got {v}")
        return v

    def to_spec(self) -> CompositionSpec:
        return CompositionSpec(
            agents=_range(self.agents, "agents"),
            enemies=_range(self.enemies, "enemies"),
            units=tuple(sorted((k, _range(r, k)) for k, r in self.units.items())) if self.units else None,
            weights=tuple(sorted(self.weights.items())) if self.weights else None,
            teams=tuple(tuple(t) for t in self.teams) if self.teams else None,
        )


class Budget(_Strict):
    """How long each run trains, in environment steps."""

    env_steps: int = Field(gt=0)


class Training(_Strict):
    """Training settings shared by every run of the suite. How often the learner updates is the
    algorithm's (its ``update_every`` hyper-parameter), not the suite's."""

    n_envs: int = Field(default=8, gt=0)
    time_limit: Literal["terminal", "bootstrap"] = "bootstrap"   # how a time-out is learned from
    checkpoint_interval: int = Field(default=0, ge=0)
    # env steps between policy snapshots kept for `harness evaluate --checkpoint STEP` (taken at the
    # first evaluation at or after each multiple; 0: none). Not part of the run spec's identity
    snapshot_interval: int = Field(default=0, ge=0)
    # runs differing only in their seed train together as one batched model (a run group); their
    # records are the same either way, so this is not part of the run spec
    group_seeds: bool = True

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data):
        if isinstance(data, dict) and "updates_per_round" in data:
            raise FieldError(("updates_per_round",), "training.updates_per_round is gone: the update cadence "
                             "belongs to the algorithm; set its update_every hyper-parameter (finished episodes "
                             "per learner update, PyMARL's default 1) in the algorithm's overrides")
        return data


class SlurmOptions(_Strict):
    """The Slurm job of ``--executor slurm`` (submitit): one array task per run group."""

    partition: str | None = None
    time_min: int = Field(default=60, gt=0)        # per job; at the limit it is requeued and resumes
    cpus_per_task: int = Field(default=2, gt=0)
    gpus_per_node: int = Field(default=0, ge=0)
    mem_gb: float = Field(default=8, gt=0)
    array_parallelism: int = Field(default=64, gt=0)   # array tasks running at once
    max_requeues: int = Field(default=3, ge=0)         # time-outs and preemptions before a run fails
    # further sbatch parameters passed through to submitit (account, qos, constraint, ...)
    additional: dict[str, str | int] = Field(default_factory=dict)


class Resources(_Strict):
    """What each run (or run group) asks of an executor; how results come out does not depend on it,
    so it is not part of the run spec."""

    cpus_per_run: float = Field(default=1, gt=0)   # Ray's CPU share of a task; threads per run
    runs_per_gpu: int = Field(default=1, gt=0)     # runs packed onto one GPU (process pool and Ray)
    max_retries: int = Field(default=2, ge=0)      # a run whose worker died is retried from its checkpoint
    slurm: SlurmOptions = SlurmOptions()


class CombatOptions(_Strict):
    """Options of the embedded combat simulator for every combat scenario of the suite: compiled
    steps and its rule set (``sc2`` game rules, or ``smax`` to mirror JaxMARL's SMAX) with overrides."""

    compile: bool = False                 # torch.compile the step (faster for runs of 100k+ steps)
    rules: Literal["sc2", "smax"] = "sc2"
    chase_targets: bool | None = None     # the scripted opponent chases a target out of range
    regeneration: bool | None = None      # Zerg health and Protoss shield regeneration
    cooldown_jitter: bool | None = None   # random extra cooldown after each attack

    def env_options(self) -> dict:
        """The non-default options, as recorded in a run spec (empty: the simulator's defaults)."""
        return self.model_dump(exclude_defaults=True, exclude_none=True)


class Evaluation(_Strict):
    """Evaluation cadence and protocol: every ``interval`` env steps, ``episodes`` episodes per set."""

    interval: int = Field(gt=0)
    episodes: int = Field(default=32, gt=0)
    greedy: bool = True
    final_k: int = Field(default=1, gt=0)
    seed: int = Field(default=1_000_003, ge=0)


class AlgorithmEntry(_Strict):
    """An algorithm by registry name, with hyper-parameter overrides of its config."""

    name: str = Field(min_length=1)
    overrides: dict[str, object] = Field(default_factory=dict)
    # the row name of this entry in reports, so one algorithm can appear several times (ablations,
    # sweeps): {name: opt, label: opt-no-cd, overrides: {cd_alpha: 0}}
    label: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")

    @property
    def row_name(self) -> str:
        return self.label or self.name


class ScenarioEntry(_Strict):
    """A scenario by registry name: overrides, own budget, training compositions and eval sets."""

    name: str = Field(min_length=1)
    overrides: dict[str, object] = Field(default_factory=dict)   # algorithm hyper-parameters
    budget: Budget | None = None
    train: Composition | None = None
    eval: dict[str, Composition] = Field(default_factory=dict)
    allow_overlap: bool = False       # eval sets may hold training compositions (not a zero-shot split)

    @field_validator("eval")
    @classmethod
    def _eval_names(cls, v):
        if TRAIN_SET in v:
            raise FieldError((TRAIN_SET,), f"eval set name {TRAIN_SET!r} is reserved for the training "
                                           "compositions; choose another name")
        return v


class Reference(_Strict):
    """Published numbers to show beside a report table (rows of suites/references/paper_tables.csv)."""

    paper: str
    table: str
    metric: str | None = None          # the paper's metric name; defaults to the table's metric
    # the paper's row name of our algorithms where it is not theirs folded (OPT's Table 2 calls
    # attention QMIX "QMIX"): {attn_qmix: QMIX}
    algorithms: dict[str, str] = Field(default_factory=dict)
    # likewise the paper's name of our scenarios where it differs (MIPI's MMM is our MMM-set)
    scenarios: dict[str, str] = Field(default_factory=dict)
    # equivalence margin δ of the TOST against each published number (ours within ±δ of theirs);
    # default 0.1 for win-rate metrics, none (equivalence not tested) for returns and lengths
    margin: float | None = Field(default=None, gt=0)


class ReportTable(_Strict):
    """One table of the suite's report: a metric laid out by rows and columns."""

    table: str = Field(min_length=1)
    metric: Metric = "final_win_rate"
    rows: Dim | list[Dim] = "algorithm"
    columns: Dim | list[Dim] = "scenario"
    cell: Literal["mean_std", "iqm_ci", "median_iqr"] = "mean_std"
    eval_set: str | None = None        # restrict to one evaluation set (default: all)
    # the test behind significance marks; default: Welch's t on per-seed values for mean cells, a
    # permutation test on the displayed statistic for IQM and median cells
    test: Literal["welch", "mannwhitney", "permutation"] | None = None
    # a row (its label, e.g. "qmix") every other row is tested against; default: all pairs of rows
    compare_to: str | None = None
    alpha: float = Field(default=0.05, gt=0, lt=1)
    reference: Reference | None = None


class Suite(_Strict):
    """A declarative benchmark suite (docs/architecture.md): expanded into algorithm × scenario × seed runs."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    backend: Literal["combat", "smac"] = "combat"
    device: str = "auto"
    seeds: int | list[int]
    budget: Budget
    training: Training = Training()
    combat: CombatOptions = CombatOptions()
    evaluation: Evaluation
    algorithms: list[str | AlgorithmEntry] = Field(min_length=1)
    scenarios: list[str | ScenarioEntry] = Field(min_length=1)
    reports: list[ReportTable] = Field(default_factory=list)
    resources: Resources = Resources()

    _source: SourceMap | None = PrivateAttr(default=None)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if isinstance(v, int):
            if v < 1:
                raise ValueError(f"seeds must be a positive count or a list of non-negative seeds, got {v}")
            return v
        if not v:
            raise ValueError("seeds list must not be empty; give a count (seeds: 5) or seeds ([0, 1, 2])")
        first: dict[int, int] = {}
        for i, s in enumerate(v):
            if s < 0:
                raise FieldError((i,), f"seeds must be non-negative, got {s}")
            if s in first:
                raise FieldError((i,), f"seed {s} is listed twice (also item {first[s]}); seeds must be distinct")
            first[s] = i
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v):
        if v not in ("auto", "cpu") and not (v == "cuda" or (v.startswith("cuda:") and v[5:].isdigit())):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {v!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        """Cadence fits every budget; names are unique; reports refer to declared eval sets."""
        if self.backend != "combat" and self.combat.env_options():
            raise FieldError(("combat",), f"combat options apply to the combat backend; this suite's "
                             f"backend is {self.backend!r}: remove the combat key or use backend: combat")
        interval = self.evaluation.interval
        if interval > self.budget.env_steps:
            raise FieldError(("evaluation", "interval"), f"evaluation.interval ({interval}) is larger than "
                             f"budget.env_steps ({self.budget.env_steps}); it must be at most the budget")
        for i, s in enumerate(self.scenario_entries):
            if s.budget is not None and interval > s.budget.env_steps:
                raise FieldError(("scenarios", i, "budget", "env_steps"), f"budget.env_steps of scenario "
                                 f"{s.name!r} ({s.budget.env_steps}) is smaller than evaluation.interval "
                                 f"({interval}); it must be at least the interval")
        for key, names in (("algorithms", [a.row_name for a in self.algorithm_entries]),
                           ("scenarios", [s.name for s in self.scenario_entries])):
            for i, n in enumerate(names):
                if n in names[:i]:
                    raise FieldError((key, i), f"{n!r} is listed twice in {key}; each name may appear once")
        eval_sets = sorted({TRAIN_SET} | {e for s in self.scenario_entries for e in s.eval})
        tables: list[str] = []
        for i, r in enumerate(self.reports):
            if r.table in tables:
                raise FieldError(("reports", i, "table"), f"report table {r.table!r} is declared twice")
            tables.append(r.table)
            if r.eval_set is not None and r.eval_set not in eval_sets:
                raise FieldError(("reports", i, "eval_set"), f"unknown eval set {r.eval_set!r}; "
                                 + allowed_hint(r.eval_set, eval_sets))
            rows = [a.row_name for a in self.algorithm_entries]
            if r.compare_to is not None and r.rows == "algorithm" and r.compare_to not in rows:
                raise FieldError(("reports", i, "compare_to"), f"compare_to {r.compare_to!r} is not a row of "
                                 f"the table; " + allowed_hint(r.compare_to, rows))
        return self

    @property
    def source(self) -> SourceMap | None:
        """Lines of the file this suite was loaded from (None for a suite built in code)."""
        return self._source

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def algorithm_entries(self) -> list[AlgorithmEntry]:
        return [AlgorithmEntry(name=a) if isinstance(a, str) else a for a in self.algorithms]

    @property
    def scenario_entries(self) -> list[ScenarioEntry]:
        return [ScenarioEntry(name=s) if isinstance(s, str) else s for s in self.scenarios]
