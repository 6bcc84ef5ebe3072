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


def _two_task_frame(steps_a, steps_b) -> pd.DataFrame:
    """One algorithm, 4 seeds: every evaluation on task A wins, every one on task B loses."""
    rows = []
    for scenario, steps, value in (("A", steps_a, 1.0), ("B", steps_b, 0.0)):
        for seed in range(4):
            for step in steps:
                rows.append({"suite": "s", "algorithm": "qmix", "scenario": scenario, "eval_set": "train",
                             "composition": "all", "seed": seed, "step": step, "metric": "win_rate",
                             "value": value, "run_id": f"{scenario}{seed}", "status": "done"})
    return pd.DataFrame(rows)


def test_iqm_curve_points_hold_every_task_even_when_tasks_evaluate_at_different_steps():
    """Task A evaluates at 0, 1000, ..., task B at 500, 1500, ...: the old curve grouped exact steps,
    so each point held one task and the IQM zig-zagged between 1 and 0."""
    from harness.reports.plots import iqm_curve_table
    table = iqm_curve_table(_two_task_frame(range(0, 10_001, 1000), range(500, 10_501, 1000)), reps=200)
    assert len(table) > 10 and (table["iqm"] == 0.5).all()
    assert table["x"].min() == 500 and table["x"].max() == 10_000
    assert (table["axis"] == "environment steps").all()


def test_iqm_curves_of_tasks_with_different_budgets_run_over_the_fraction_of_training():
    from harness.reports.plots import iqm_curve_table
    table = iqm_curve_table(_two_task_frame(range(0, 10_001, 1000), range(0, 40_001, 4000)), reps=200)
    assert (table["iqm"] == 0.5).all() and table["x"].max() == 1.0
    assert table["axis"].iloc[0].startswith("fraction of training")
