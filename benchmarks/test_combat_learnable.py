"""Acceptance check of the combat simulator: learnable, not trivial (marked slow: hours on 2 CPU cores).

QMIX (PyMARL's SMAC hyper-parameters) must reach >= 80 % greedy test win rate on 3m within 1M env
steps in at least 4 of 5 seeds while a random policy wins < 5 %, and learn measurably slower on
5m_vs_6m. "Reaches" is read off the test curve smoothed over 3 consecutive evaluations (96 episodes,
so one lucky 32-episode evaluation does not count); "slower" compares the area under the win-rate
curves over the same first 200k steps (5m_vs_6m runs only that far). Runs go to
runs/combat-learnable and resume where they stopped, so the check can be spread over sessions:
    harness run suites/benchmarks/combat-learnable.yaml --workers 2
    pytest benchmarks/test_combat_learnable.py -m slow --benchmark-enable
"""
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.metrics import trapezoid_area
from learning_curves import curves, peak_smoothed, random_win_rate, run_suite

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "suites" / "benchmarks" / "combat-learnable.yaml"
OUT = ROOT / "runs" / "combat-learnable"
THRESHOLD = 0.8
EARLY = 200_000     # steps over which 3m and 5m_vs_6m are compared


def early_auc(steps: np.ndarray, win_rate: np.ndarray, until: int = EARLY) -> float:
    """Mean win rate over [0, until] (trapezoids over the evaluations up to ``until``)."""
    keep = steps <= until
    return trapezoid_area(steps[keep], win_rate[keep]) / until


@pytest.mark.slow
def test_qmix_learns_3m_and_learns_5m_vs_6m_slower(benchmark):
    specs, frame = run_suite(SUITE, OUT, benchmark)
    runs = curves(frame)
    peak_3m = np.array([peak_smoothed(w) for (sc, _), (_, w) in runs.items() if sc == "3m"])
    auc = {s: [early_auc(*c) for (sc, _), c in runs.items() if sc == s] for s in ("3m", "5m_vs_6m")}
    benchmark.extra_info.update({"peak_smoothed_3m": peak_3m.tolist(), "early_auc": auc,
                                 "random_3m": random_win_rate("3m")})
    assert benchmark.extra_info["random_3m"] < 0.05
    assert len(peak_3m) == 5 and (peak_3m >= THRESHOLD).sum() >= 4, peak_3m
    assert np.mean(auc["5m_vs_6m"]) < np.mean(auc["3m"]) - 0.1, auc
