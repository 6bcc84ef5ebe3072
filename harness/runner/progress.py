"""Suite progress: runs done / failed / pending, retries of runs whose worker died, and the active
runs' env steps and latest win rate."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.spec import RunSpec


@dataclass
class ActiveRun:
    label: str
    budget: int
    t_env: int = 0
    win_rate: float | None = None
    started: float = field(default_factory=time.time)


class SuiteProgress:
    """A live rich table on a terminal; one line per finished run otherwise (CI logs)."""

    def __init__(self, suite: str, specs: list[RunSpec], already_done: int, console: Console | None = None) -> None:
        self.suite = suite
        self.specs = {s.run_id: s for s in specs}
        self.total = len(specs) + already_done
        self.done, self.failed, self.busy = already_done, 0, 0
        self.retries = 0   # resubmissions of runs whose worker died (distributed executors)
        self.active: dict[str, ActiveRun] = {}
        self.console = console or Console(stderr=True)
        self.live: Live | None = None
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)

    def __enter__(self) -> "SuiteProgress":
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.update(self._render())
            self.live.__exit__(*exc)

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed - self.busy - len(self.active)

    def handle(self, event: dict) -> None:
        rid, kind = event["run_id"], event["type"]
        spec = self.specs.get(rid)
        if kind == "start" and spec is not None:
            self.active[rid] = ActiveRun(spec.label, spec.budget_env_steps)
        elif kind in ("progress", "eval") and rid in self.active:
            self.active[rid].t_env = event["t_env"]
            if kind == "eval":
                rows = [r for r in event["summary"] if r["composition"] == "all" and r["eval_set"] == "train"]
                if rows:
                    self.active[rid].win_rate = rows[0]["win_rate"]
        elif kind == "retry":
            # back to pending until the resubmitted task starts it again
            run = self.active.pop(rid, None)
            self.retries += 1
            if self.live is None:
                label = run.label if run else (spec.label if spec is not None else rid)
                tail = f" ({event['reason']})" if event.get("reason") else ""
                print(f"[{self.done + self.failed}/{self.total}] {label}: retry {event['attempt']}{tail}",
                      file=sys.stderr, flush=True)
        elif kind == "end":
            run = self.active.pop(rid, None)
            if event["status"] == "done":
                self.done += 1
            elif event["status"] == "busy":
                self.busy += 1
            else:
                self.failed += 1
            if self.live is None:
                label = run.label if run else rid
                tail = f" ({event['reason']})" if event.get("reason") else ""
                wr = f" win_rate={run.win_rate:.3f}" if run and run.win_rate is not None else ""
                print(f"[{self.done + self.failed}/{self.total}] {label}: {event['status']}{wr}{tail}",
                      file=sys.stderr, flush=True)
        if self.live is not None:
            self.live.update(self._render())

    def _render(self) -> Table:
        retries = f", {self.retries} {'retry' if self.retries == 1 else 'retries'}" if self.retries else ""
        table = Table(title=f"suite {self.suite}: {self.done} done, {self.failed} failed, "
                            f"{len(self.active)} running, {self.pending} pending of {self.total}{retries}")
        for col in ("run", "env steps", "progress", "train win rate", "elapsed"):
            table.add_column(col)
        for run in self.active.values():
            pct = 100.0 * run.t_env / max(run.budget, 1)
            wr = "-" if run.win_rate is None else f"{run.win_rate:.3f}"
            table.add_row(run.label, f"{run.t_env:,}/{run.budget:,}", f"{pct:5.1f}%", wr,
                          f"{time.time() - run.started:5.0f}s")
        return table
