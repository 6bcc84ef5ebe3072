"""Run groups: which runs of a suite train together as one batched model.

Runs that differ only in their seed (same algorithm and resolved config, scenario, budget,
evaluation, environments and device) form a group; ``harness/runner/loop.py:execute_group`` trains
them in one process, their network evaluations stacked over runs (``algorithms/calls.py``). A run's
records do not depend on the group it trains in (``tests/test_run_groups.py``), so grouping is an
execution choice, kept out of the run spec and its id: a suite may switch it and resume.
"""
from __future__ import annotations

import json

from harness.spec import RunSpec


def group_key(spec: RunSpec) -> str:
    """What the runs of one group share: the spec without its seed."""
    d = spec.to_dict()
    d.pop("seed")
    return json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)


def plan_groups(specs: list[RunSpec], enabled: bool = True, workers: int = 1) -> list[list[RunSpec]]:
    """The specs as groups, in suite order (a group where its first run stands). Disabled: one run each.
    With more workers than groups, the largest groups are split (seeds in order) until every worker
    has one, since a group runs in one process."""
    if not enabled:
        return [[s] for s in specs]
    groups: dict[str, list[RunSpec]] = {}
    for s in specs:
        groups.setdefault(group_key(s), []).append(s)
    planned = list(groups.values())
    while len(planned) < workers:
        largest = max(range(len(planned)), key=lambda i: len(planned[i]), default=None)
        if largest is None or len(planned[largest]) < 2:
            break
        g = planned.pop(largest)
        half = (len(g) + 1) // 2
        planned[largest:largest] = [g[:half], g[half:]]
    return planned
