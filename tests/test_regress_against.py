"""A/B across commits from a clean clone: a deliberate learning bug in a temporary commit makes
`harness regress --against HEAD~1` exit 1, a deliberate slowdown exits 3, the revision's results
are cached, and each side ran its own code."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.regression

ROOT = Path(__file__).resolve().parent.parent
SUITE = "suites/regression/matrix-smoke.yaml"
# one algorithm, four seeds: every seed of VDN reaches the training optimum in 2,000 steps
SMALL = ["--set", "algorithms=[vdn]", "--set", "seeds=4"]
LEARNERS = Path("algorithms/components/learners.py")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> tuple[Path, str]:
    """A clean clone of this checkout's HEAD, and that commit."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs the harness as a git checkout")
    path = tmp_path_factory.mktemp("ab") / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    return path, _git(path, "rev-parse", "HEAD")


def _commit_change(clone: tuple[Path, str], old: str, new: str, message: str) -> Path:
    """The clone reset to its original commit, with `old` -> `new` in the TD learner committed on top."""
    path, base = clone
    _git(path, "reset", "--quiet", "--hard", base)
    text = (path / LEARNERS).read_text()
    assert old in text, f"{LEARNERS} no longer has {old!r}: update this test's deliberate change"
    (path / LEARNERS).write_text(text.replace(old, new, 1))
    _git(path, "commit", "--quiet", "-am", message)
    return path


def _regress(clone: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONPATH=str(clone))
    return subprocess.run([sys.executable, "-m", "harness", "regress", SUITE, *SMALL, "--against", "HEAD~1",
                           "--cache", str(cache), "--workers", "2", *extra],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=1200)


def test_a_sign_flipped_reward_in_the_td_target_is_a_learning_regression(clone, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "ab-cache"
    repo = _commit_change(clone, "reward = batch.reward ", "reward = -batch.reward ", "deliberate bug: reward sign")
    proc = _regress(repo, cache, "--output", str(cache / "bug.md"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "| vdn | mipi_matrix | train |" in proc.stdout and "REGRESSION" in proc.stdout
    assert "REGRESSION: significant drop" in proc.stderr
    assert (cache / "bug.md").read_text().startswith("# matrix-smoke-set-")


def test_a_sleep_in_the_learner_is_a_slowdown_and_the_revision_is_not_rerun(clone, tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "ab-cache"
    repo = _commit_change(clone, "        self.optimiser.zero_grad()\n",
                          "        __import__('time').sleep(0.004)\n        self.optimiser.zero_grad()\n",
                          "deliberate slowdown: a sleep in every update")
    proc = _regress(repo, cache)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "(cached)" in proc.stdout                      # HEAD~1's results from the first test
    assert "SLOWER" in proc.stdout and "learning unchanged" in proc.stderr
