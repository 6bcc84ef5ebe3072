"""Learning check of the value-based learners with PyMARL's protocol (marked slow: hours on 2 CPU cores).

On the combat simulator's 3m, QMIX and VDN must each reach a median greedy test win rate >= 0.9
within 500k env steps over 5 seeds and >= 0.8 in every seed, while a random policy wins < 5 %.
"Reaches" is read off the test curve smoothed over 3 consecutive evaluations (96 episodes), so one
lucky 32-episode evaluation does not count. Runs go to runs/pymarl-3m and resume where they stopped:
    harness run suites/benchmarks/pymarl-3m.yaml --workers 2
    pytest benchmarks/test_pymarl_learning.py -m slow --benchmark-enable
"""
from pathlib import Path

import numpy as np
import pytest

from learning_curves import curves, peak_smoothed, random_win_rate, run_suite

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "suites" / "benchmarks" / "pymarl-3m.yaml"
OUT = ROOT / "runs" / "pymarl-3m"
MEDIAN_BAR, EVERY_SEED_BAR, WITHIN = 0.9, 0.8, 500_000


@pytest.mark.slow
def test_qmix_and_vdn_reach_pymarls_3m_win_rates_within_500k_steps(benchmark):
    specs, frame = run_suite(SUITE, OUT, benchmark)
    peaks = {}
    for algorithm in ("qmix", "vdn"):
        ids = [s.run_id for s in specs if s.algorithm == algorithm]
        runs = curves(frame[frame.run_id.isin(ids)])
        peaks[algorithm] = [peak_smoothed(w[s <= WITHIN]) for (_, _), (s, w) in sorted(runs.items())]
    benchmark.extra_info.update({"peak_smoothed": peaks, "random_3m": random_win_rate("3m")})
    assert benchmark.extra_info["random_3m"] < 0.05
    for algorithm, p in peaks.items():
        assert len(p) == 5, (algorithm, p)
        assert np.median(p) >= MEDIAN_BAR and min(p) >= EVERY_SEED_BAR, (algorithm, p)
