"""Per-run metrics: final-k values, normalised AUCs, and per_run_metrics on a tidy frame."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis import metrics

STEPS = [0, 10_000, 20_000, 30_000, 40_000, 50_000]
WIN_RATES = [0, 0, .125, .40625, .6875, .8125]


def tidy(runs):
    """Tidy frame from {(algorithm, seed, status): {metric: [(step, value), ...]}}."""
    rows = []
    for (algorithm, seed, status), curves in runs.items():
        for metric, points in curves.items():
            for step, value in points:
                rows.append(dict(suite="s", algorithm=algorithm, scenario="3m", eval_set="train",
                                 composition="all", seed=seed, step=step, metric=metric, value=value,
                                 run_id=f"{algorithm}-{seed}", status=status))
    return pd.DataFrame(rows)


def test_auc_pins_trapezoid_0325_and_mean_of_points_0338542():
    assert metrics.auc_trapezoid(STEPS, WIN_RATES) == pytest.approx(0.325, abs=1e-15)
    assert metrics.auc_mean(WIN_RATES) == pytest.approx(0.338542, abs=5e-7)


def test_auc_trapezoid_uses_the_actual_uneven_steps_and_any_order():
    # 0 -> 1 over [0, 10], then flat at 1 over [10, 40]: area 5 + 30 = 35 over span 40
    assert metrics.auc_trapezoid([40, 0, 10], [1, 0, 1]) == pytest.approx(35 / 40)
    assert metrics.auc_trapezoid([7], [0.3]) == pytest.approx(0.3)


def test_auc_works_on_numpy_without_trapezoid(monkeypatch):
    """The package allows NumPy 1.26, which has no np.trapezoid (added in 2.0)."""
    import numpy as np

    monkeypatch.delattr(np, "trapezoid", raising=False)
    assert metrics.auc_trapezoid(STEPS, WIN_RATES) == pytest.approx(0.325, abs=1e-15)
    assert metrics.trapezoid_area([0, 10, 40], [0, 1, 1]) == pytest.approx(35.0)


def test_final_value_is_the_mean_of_the_last_k_evaluations_by_step():
    shuffled = [3, 0, 5, 1, 4, 2]
    steps = [STEPS[i] for i in shuffled]
    values = [WIN_RATES[i] for i in shuffled]
    assert metrics.final_value(steps, values) == 0.8125
    assert metrics.final_value(steps, values, k=2) == pytest.approx((0.6875 + 0.8125) / 2)
    with pytest.raises(ValueError, match="k=7"):
        metrics.final_value(steps, values, k=7)
    with pytest.raises(ValueError, match="positive integer"):
        metrics.final_value(steps, values, k=0)


def test_per_run_metrics_gives_every_metric_for_every_run():
    curves = {"win_rate": list(zip(STEPS, WIN_RATES)),
              "return_mean": list(zip(STEPS, [1, 2, 3, 4, 5, 6])),
              "episode_length": list(zip(STEPS, [60, 50, 40, 40, 30, 20]))}
    frame = tidy({("qmix", 0, "done"): curves, ("vdn", 1, "done"): curves})
    out = metrics.per_run_metrics(frame, k=2)
    assert list(out.columns) == ["suite", "algorithm", "scenario", "eval_set", "composition", "seed",
                                 "run_id", "status", "metric", "value"]
    assert len(out) == 2 * 5
    qmix = out[out["algorithm"] == "qmix"].set_index("metric")["value"]
    assert qmix["final_win_rate"] == pytest.approx(0.75)
    assert qmix["auc_win_rate"] == pytest.approx(0.325)
    assert qmix["final_return"] == pytest.approx(5.5)
    assert qmix["auc_return"] == pytest.approx(3.5)
    assert qmix["final_episode_length"] == pytest.approx(25)
    assert set(out["metric"]) == set(metrics.METRIC_DEFINITIONS)
    mean_auc = metrics.per_run_metrics(frame, auc="mean").set_index(["algorithm", "metric"])["value"]
    assert mean_auc[("qmix", "auc_win_rate")] == pytest.approx(0.338542, abs=5e-7)


def test_failed_runs_are_kept_with_nan_values_never_averaged_in():
    frame = tidy({("qmix", 0, "done"): {"win_rate": list(zip(STEPS, WIN_RATES))},
                  ("qmix", 1, "failed"): {"win_rate": [(0, 0.9), (10_000, 1.0)]}})
    out = metrics.per_run_metrics(frame)
    failed = out[out["seed"] == 1]
    assert (failed["status"] == "failed").all() and len(failed) == 5
    assert failed["value"].isna().all()


def test_runs_with_too_few_evaluations_or_missing_metrics_get_nan():
    frame = tidy({("qmix", 0, "running"): {"win_rate": [(0, 0.1)]}})
    out = metrics.per_run_metrics(frame, k=3).set_index("metric")["value"]
    assert np.isnan(out["final_win_rate"]) and out["auc_win_rate"] == pytest.approx(0.1)
    assert np.isnan(out["final_return"])


def test_each_eval_set_and_composition_is_its_own_row():
    frame = tidy({("qmix", 0, "done"): {"win_rate": list(zip(STEPS, WIN_RATES))}})
    other = frame.assign(eval_set="unseen", composition="3m_vs_4m", value=frame["value"] / 2)
    out = metrics.per_run_metrics(pd.concat([frame, other]))
    final = out[out["metric"] == "final_win_rate"].set_index(["eval_set", "composition"])["value"]
    assert final[("train", "all")] == 0.8125 and final[("unseen", "3m_vs_4m")] == 0.40625


def test_bad_arguments_are_refused():
    frame = tidy({("qmix", 0, "done"): {"win_rate": list(zip(STEPS, WIN_RATES))}})
    with pytest.raises(ValueError, match="trapezoid, mean"):
        metrics.per_run_metrics(frame, auc="simpson")
    with pytest.raises(ValueError, match="status"):
        metrics.per_run_metrics(frame.drop(columns="status"))


def test_every_metric_has_a_definition():
    assert set(metrics.METRIC_DEFINITIONS) == {"final_win_rate", "auc_win_rate", "final_return",
                                               "auc_return", "final_episode_length"}
    assert all(len(text) > 40 for text in metrics.METRIC_DEFINITIONS.values())


def test_failed_run_without_any_evaluation_is_still_listed():
    frame = tidy({("qmix", 0, "done"): {"win_rate": list(zip(STEPS, WIN_RATES))}})
    failed = pd.DataFrame([dict(suite="s", algorithm="qmix", scenario="3m", eval_set=None,
                                composition=None, seed=1, step=np.nan, metric=None, value=np.nan,
                                run_id="qmix-1", status="failed")])
    out = metrics.per_run_metrics(pd.concat([frame, failed], ignore_index=True))
    listed = out[out["run_id"] == "qmix-1"]
    assert len(listed) == 5 and listed["value"].isna().all() and (listed["status"] == "failed").all()
    assert out.loc[out["run_id"] == "qmix-0", "value"].notna().sum() == 2
