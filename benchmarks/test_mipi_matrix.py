"""MIPI's matrix game (Fig. 2) as a learning check (marked slow: about 10 minutes on 2 CPU cores).
Trained on (A,B) and (B,A), the MI-regularised learner's greedy joint action on the unseen (B,B) is the
composition-agnostic (0,0) (a win there: the only one) in at least 4 of 5 seeds, while the pure-reward
learner (Value) takes each training composition's own optimum (a win on the training compositions,
which (0,0) never is) in at least 4 of 5. Runs go to runs/mipi-matrix and resume where they stopped:
    harness run suites/papers/mipi-matrix.yaml
    pytest benchmarks/test_mipi_matrix.py -m slow --benchmark-enable
"""
from pathlib import Path

import pytest

from learning_curves import run_suite

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "suites" / "papers" / "mipi-matrix.yaml"
OUT = ROOT / "runs" / "mipi-matrix"


def _final(frame, label: str, eval_set: str, metric: str) -> list[float]:
    rows = frame[(frame.algorithm == label) & (frame.eval_set == eval_set) & (frame.composition == "all")
                 & (frame.metric == metric)]
    last = rows[rows.step == rows.step.max()]
    return last.sort_values("seed").value.tolist()


@pytest.mark.slow
def test_mi_learner_plays_the_generalisable_joint_action_and_the_pure_reward_learner_overfits(benchmark):
    specs, frame = run_suite(SUITE, OUT, benchmark, workers=1)
    mipi_bb = _final(frame, "mipi", "BB", "win_rate")
    mipi_train_return = _final(frame, "mipi", "train", "return_mean")
    value_train = _final(frame, "value", "train", "win_rate")
    value_bb = _final(frame, "value", "BB", "win_rate")
    benchmark.extra_info.update({"mipi_bb_win_rate": mipi_bb, "mipi_train_return": mipi_train_return,
                                 "value_train_win_rate": value_train, "value_bb_win_rate": value_bb})
    assert len(mipi_bb) == len(value_train) == 5
    assert sum(w == 1.0 for w in mipi_bb) >= 4, mipi_bb             # (0,0) on (B,B)
    assert sum(w == 1.0 for w in value_train) >= 4, value_train     # each training optimum (8)
    assert sum(r == 5.0 for r in mipi_train_return) >= 4, mipi_train_return   # MIPI plays (0,0) there too
