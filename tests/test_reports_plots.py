"""Learning curves aggregate seeds at their k-th evaluation, even when runs' env-step counts differ."""
import pandas as pd

from harness.reports.plots import _curves


def test_curves_align_the_kth_evaluation_of_every_run():
    rows = []
    for run, steps in (("a", [0, 20010, 40020]), ("b", [0, 20123, 40007]), ("c", [0, 19990, 40100])):
        for k, step in enumerate(steps):
            rows.append({"suite": "s", "algorithm": "qmix", "scenario": "3m", "eval_set": "train",
                         "composition": "all", "seed": 0, "step": step, "metric": "win_rate", "value": k / 2,
                         "run_id": run, "status": "done"})
    curves = _curves(pd.DataFrame(rows))
    assert sorted(curves["step"].unique()) == [0, 20010, 40020]
    assert curves.groupby("step")["value"].nunique().eq(1).all()
