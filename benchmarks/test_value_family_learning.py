"""Learning check of QTRAN, QPLEX, OW-QMIX and CW-QMIX with PyMARL's protocol (marked slow: hours on
2 CPU cores). On the combat simulator's 3m each must reach a greedy test win rate >= 0.8 within 500k
env steps in at least 2 of 3 seeds (curves smoothed over 3 evaluations, 96 episodes), while a random
policy wins < 5 %. Runs go to runs/value-family-3m and resume where they stopped:
    harness run suites/benchmarks/value-family-3m.yaml --workers 2
    pytest benchmarks/test_value_family_learning.py -m slow --benchmark-enable
"""
from pathlib import Path

import pytest

from learning_curves import curves, peak_smoothed, random_win_rate, run_suite

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "suites" / "benchmarks" / "value-family-3m.yaml"
OUT = ROOT / "runs" / "value-family-3m"
BAR, SEEDS_NEEDED, WITHIN = 0.8, 2, 500_000
ALGORITHMS = ("qtran", "qplex", "ow_qmix", "cw_qmix")


@pytest.mark.slow
def test_value_factorisation_family_reaches_0_8_on_3m_within_500k_steps(benchmark):
    specs, frame = run_suite(SUITE, OUT, benchmark)
    peaks = {}
    for algorithm in ALGORITHMS:
        ids = [s.run_id for s in specs if s.algorithm == algorithm]
        runs = curves(frame[frame.run_id.isin(ids)])
        peaks[algorithm] = [peak_smoothed(w[s <= WITHIN]) for (_, _), (s, w) in sorted(runs.items())]
    benchmark.extra_info.update({"peak_smoothed": peaks, "random_3m": random_win_rate("3m")})
    assert benchmark.extra_info["random_3m"] < 0.05
    for algorithm, p in peaks.items():
        assert len(p) == 3, (algorithm, p)
        assert sum(x >= BAR for x in p) >= SEEDS_NEEDED, (algorithm, p)
