"""marl-eval JSON export and import."""
from __future__ import annotations

import pandas as pd
import pytest

from harness.analysis import marl_eval

STEPS = [0, 10_000, 20_000]


def tidy():
    rows = []
    for algorithm in ("qmix", "vdn"):
        for seed in (0, 1):
            for eval_set in ("train", "unseen"):
                for composition in ("all", "3m_vs_4m"):
                    for i, step in enumerate(STEPS):
                        for metric, value in (("win_rate", 0.1 * i + 0.01 * seed),
                                              ("return_mean", 5.0 * i + seed)):
                            rows.append(dict(suite="s", algorithm=algorithm, scenario="3m",
                                             eval_set=eval_set, composition=composition, seed=seed,
                                             step=step, metric=metric, value=value,
                                             run_id=f"{algorithm}-{seed}", status="done"))
    rows.append(dict(suite="s", algorithm="qmix", scenario="3m", eval_set="train", composition="all",
                     seed=2, step=0, metric="win_rate", value=0.9, run_id="qmix-2", status="failed"))
    return pd.DataFrame(rows)


def test_export_has_marl_eval_layout():
    data = marl_eval.to_marl_eval(tidy(), env_name="combat", metric="win_rate")
    assert list(data) == ["combat"]
    assert sorted(data["combat"]) == ["3m", "3m@unseen"]
    runs = data["combat"]["3m"]["qmix"]
    assert sorted(runs) == ["run_0", "run_1"]  # the failed run is not exported
    run = runs["run_1"]
    assert list(run) == ["step_0", "step_1", "step_2", "absolute_metrics"]  # absolute metrics last
    assert run["step_1"] == {"step_count": 10_000, "elapsed_time": 0.0, "win_rate": [pytest.approx(0.11)]}
    assert run["absolute_metrics"] == {"win_rate": [pytest.approx(0.21)]}


def test_round_trip_through_json_keeps_the_learning_curves(tmp_path):
    frame = tidy()
    path = marl_eval.write_json(marl_eval.to_marl_eval(frame, metric=["win_rate", "return_mean"]),
                                tmp_path / "out" / "metrics.json")
    back = marl_eval.from_marl_eval(marl_eval.read_json(path), suite="s")
    assert list(back.columns) == ["suite", "algorithm", "scenario", "eval_set", "composition", "seed",
                                  "step", "metric", "value", "run_id", "status"]
    keys = ["algorithm", "scenario", "eval_set", "composition", "seed", "step", "metric"]
    expected = frame[(frame["composition"] == "all") & (frame["status"] == "done")]
    left = expected[keys + ["value"]].sort_values(keys).reset_index(drop=True)
    right = back[keys + ["value"]].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    assert set(back["run_id"]) >= {"combat/3m@unseen/vdn/run_1"}


def test_import_reads_older_uppercase_keys_and_seed_named_runs():
    data = {"env_1": {"task_1": {"algo_1": {"43289": {
        "STEP_2": {"step_count": 20008, "return": [1, 2, 1, 2], "win_rate": [0.5]},
        "STEP_1": {"step_count": 10006, "return": [1, 2, 3, 4], "win_rate": [0.8]},
        "ABSOLUTE_METRICS": {"return": [5, 8], "win_rate": [0.2]},
    }, "seed_7": {"step_0": {"step_count": 5, "elapsed_time": 1.5, "win_rate": [0.25]},
                  "absolute_metrics": {"win_rate": [0.25]}}}}}}
    frame = marl_eval.from_marl_eval(data)
    assert set(frame["seed"]) == {43289, 7}
    first = frame[(frame["seed"] == 43289) & (frame["metric"] == "return")].sort_values("step")
    assert first["step"].tolist() == [10006, 20008] and first["value"].tolist() == [2.5, 1.5]
    assert (frame["eval_set"] == "train").all() and (frame["suite"] == "imported").all()
    assert "elapsed_time" not in set(frame["metric"])


def test_unknown_run_entries_are_refused():
    with pytest.raises(ValueError, match="final"):
        marl_eval.from_marl_eval({"e": {"t": {"a": {"run_0": {"final": {"step_count": 1}}}}}})
