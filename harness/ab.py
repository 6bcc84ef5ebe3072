"""A/B across commits: one suite run at a git revision and at the working tree, on this machine.

The revision is checked out into a cached git worktree and run from its own source with this
environment's packages (so only the code differs; `python=` runs it with another interpreter, e.g.
a venv with the revision's own install). The two sides run seed by seed in turn, the revision
first, so that machine noise (other load, thermal state) hits both alike; both use the same seeds
and the same suite file. The revision's side ends by recording its results as a baseline file with
its own code, the versioned format both sides read, so the comparison is the ordinary gate. That
baseline is cached by commit and suite hash: a second comparison against the same revision reruns
nothing of it.
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CACHE = Path(os.environ.get("MARL_HARNESS_CACHE", Path.home() / ".cache" / "marl-harness")) / "against"


class AgainstError(RuntimeError):
    """The revision cannot be compared (not a commit, its code fails, it lacks what A/B needs)."""


@dataclass(frozen=True)
class Side:
    """How to run the harness of one side: interpreter, working directory, environment."""

    name: str          # "REV abc1234" or "working tree"
    python: str
    cwd: Path
    env: dict[str, str]

    def harness(self, *args: str) -> list[str]:
        return [self.python, "-m", "harness", *args]


@dataclass(frozen=True)
class Comparison:
    """Where the two sides' results are: the revision's baseline file and the working tree's runs."""

    commit: str
    baseline: Path
    candidate_out: Path
    reused: bool                     # the revision's results came from the cache


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AgainstError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def repository_root(start: Path) -> Path:
    """The git checkout holding `start` (the suite file or the current directory)."""
    try:
        return Path(git(start if start.is_dir() else start.parent, "rev-parse", "--show-toplevel"))
    except AgainstError:
        raise AgainstError(f"{start} is not inside a git checkout: --against compares commits of one") from None


def resolve_commit(repo: Path, rev: str) -> str:
    """The full sha of `rev` (a branch, tag, HEAD~1 or sha)."""
    try:
        return git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}")
    except AgainstError:
        raise AgainstError(f"--against {rev!r}: not a commit of {repo}") from None


def checkout(repo: Path, commit: str, cache: Path) -> Path:
    """A detached worktree of `commit` under the cache (created once, then reused)."""
    path = cache / commit[:12] / "src"
    if (path / ".git").exists() and git(path, "rev-parse", "HEAD") == commit:
        return path
    git(repo, "worktree", "prune")
    path.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--detach", "--force", str(path), commit)
    return path


def revision_side(src: Path, commit: str, python: str | None = None) -> Side:
    """The revision's harness: its source first on the path, run from its checkout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return Side(f"REV {commit[:8]}", python or sys.executable, src, env)


def working_side(repo: Path) -> Side:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return Side("working tree", sys.executable, repo, env)


def supports_overrides(side: Side) -> bool:
    """Whether the side's `harness run` takes `--set` (needed to run seed by seed)."""
    proc = subprocess.run(side.harness("run", "--help"), cwd=side.cwd, env=side.env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AgainstError(f"{side.name}: `harness run --help` failed: {proc.stderr.strip()[-2000:]}")
    return "--set" in proc.stdout


def _run(side: Side, args: Sequence[str], log: Callable[[str], None], log_file: Path) -> None:
    log(f"[{side.name}] harness {' '.join(args)}")
    with open(log_file, "a") as out:
        out.write(f"\n$ harness {' '.join(args)}  ({side.name}, {dt.datetime.now().isoformat(timespec='seconds')})\n")
        out.flush()
        proc = subprocess.run(side.harness(*args), cwd=side.cwd, env=side.env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise AgainstError(f"{side.name}: `harness {' '.join(args)}` exited {proc.returncode}; see {log_file}")


def compare_against(suite_path: Path, rev: str, *, name: str, seeds: Sequence[int], overrides: Sequence[str] = (),
                    suite_hash: str, workers: int = 1, cache: Path = DEFAULT_CACHE, python: str | None = None,
                    candidate_out: Path | None = None, log: Callable[[str], None] = print) -> Comparison:
    """Run the suite at `rev` (unless cached) and at the working tree, seed by seed in turn, and
    record the revision's results as a baseline; returns where both sides' results are.

    `name` is the suite's name as loaded with `overrides` (both sides run under it, so run ids
    agree), `seeds` its seeds, `suite_hash` its hash (the cache key with the commit).
    """
    suite_path = suite_path.resolve()
    repo = repository_root(suite_path)
    commit = resolve_commit(repo, rev)
    slot = cache / commit[:12] / suite_hash[:16]
    baseline = slot / "baseline.json"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate_out = candidate_out or cache / "working-tree" / f"{name}-{stamp}"
    candidate_out.mkdir(parents=True, exist_ok=True)
    log_file = candidate_out / "against.log"
    base_args = [str(suite_path), *[a for o in overrides for a in ("--set", o)], "--set", f"name={name}"]
    run_flags = ["--no-report", "--no-tracking", "--workers", str(workers)]
    here = working_side(repo)
    reused = baseline.exists()
    if reused:
        log(f"REV {commit[:8]}: results cached in {slot}; running the working tree only")
        for seed in seeds:
            _run(here, ["run", *base_args, "--set", f"seeds=[{seed}]", "--out", str(candidate_out), *run_flags],
                 log, log_file)
        return Comparison(commit, baseline, candidate_out, True)
    there = revision_side(checkout(repo, commit, cache), commit, python)
    rev_out = slot / "runs"
    if supports_overrides(there):
        for seed in seeds:           # interleaved: the revision's seed, then the working tree's
            for side, out in ((there, rev_out), (here, candidate_out)):
                _run(side, ["run", *base_args, "--set", f"seeds=[{seed}]", "--out", str(out), *run_flags],
                     log, log_file)
        _run(there, ["regress", *base_args, "--out", str(rev_out), "--record", "--baseline", str(baseline)],
             log, log_file)
    else:                             # an older revision: whole suites one after the other
        if overrides:
            raise AgainstError(f"REV {commit[:8]} predates `--set`, so it cannot run the suite with "
                               f"{' '.join(overrides)}; compare without overrides or against a later commit")
        log(f"REV {commit[:8]} predates `--set`: the two sides run one after the other, not seed by seed")
        _run(there, ["run", str(suite_path), "--out", str(rev_out), *run_flags], log, log_file)
        _run(there, ["regress", str(suite_path), "--out", str(rev_out), "--record", "--baseline", str(baseline)],
             log, log_file)
        _run(here, ["run", *base_args, "--out", str(candidate_out), *run_flags], log, log_file)
    return Comparison(commit, baseline, candidate_out, False)
