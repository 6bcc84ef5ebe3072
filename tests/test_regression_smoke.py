"""The committed regression suite, re-run from scratch, passes the gate against its committed baseline."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.regress import assert_no_regression

pytestmark = pytest.mark.regression

ROOT = Path(__file__).resolve().parent.parent


def test_matrix_smoke_suite_shows_no_regression_against_committed_baseline(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(ROOT / "suites/regression/matrix-smoke.yaml"),
                           "--out", str(tmp_path / "runs"), "--workers", "2", "--no-report", "--no-tracking"],
                          capture_output=True, text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    gate = subprocess.run([sys.executable, "-m", "harness", "regress", str(ROOT / "suites/regression/matrix-smoke.yaml"),
                           "--out", str(tmp_path / "runs"), "--baseline", str(ROOT / "reports/baselines/matrix-smoke.json")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "no significant regression" in gate.stdout
    # the same gate from pytest, as a project's CI would use it
    assert_no_regression(tmp_path / "runs", ROOT / "reports/baselines/matrix-smoke.json", k=2)
