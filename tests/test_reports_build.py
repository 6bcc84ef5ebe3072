"""Report build end to end on a synthetic tidy frame: files in every format, provenance and methods
in each, and figures that exist for full data and are skipped, not crashed on, for empty or partial data."""
from __future__ import annotations


import numpy as np
import pandas as pd

from harness.analysis.metrics import per_run_metrics
from harness.reports import plots
from harness.reports.build import build_report, default_table
from harness.suite.models import Suite

PROVENANCE = {"suite_hash": "5eed", "git": {"commit": "0123abc", "dirty": True},
              "versions": {"python": "3.11.9", "torch": "2.3.1", "numpy": "1.26", "pandas": "3.1",
                           "simulator": "combat 0.1"}, "device": "cpu", "started": "2026-11-21"}


def make_suite(reports=None, seeds=3) -> Suite:
    return Suite(name="synthetic", seeds=seeds, budget={"env_steps": 1000}, evaluation={"interval": 250},
                 algorithms=["qmix", "vdn"],
                 scenarios=[{"name": "SZ", "eval": {"6": {"agents": 6}}}, "MMM"], reports=reports or [])


def tidy_frame(algorithms=("qmix", "vdn"), seeds=3, steps=(0, 250, 500, 750, 1000), failed=()) -> pd.DataFrame:
    """Learning curves rising to a per-algorithm level; SZ has a `6` eval set with two compositions."""
    rng = np.random.default_rng(7)
    rows = []
    for level, alg in zip((0.8, 0.5, 0.3), algorithms):
        for scen, sets in (("SZ", {"train": ["all"], "6": ["all", "6v6", "6v7"]}), ("MMM", {"train": ["all"]})):
            for seed in range(seeds):
                status = "failed" if (alg, scen, seed) in failed else "done"
                for ev, comps in sets.items():
                    for comp in comps:
                        for step in steps:
                            wr = float(np.clip(level * step / max(steps) + rng.normal(0, 0.05), 0, 1))
                            for metric, value in (("win_rate", wr), ("return_mean", 20 * wr),
                                                  ("episode_length", 60 - 20 * wr)):
                                rows.append({"suite": "synthetic", "algorithm": alg, "scenario": scen,
                                             "eval_set": ev, "composition": comp, "seed": seed, "step": step,
                                             "metric": metric, "value": value,
                                             "run_id": f"{alg}-{scen}-{seed}", "status": status})
    return pd.DataFrame(rows)


def runs_of(frame: pd.DataFrame) -> pd.DataFrame:
    runs = frame.drop_duplicates("run_id")[["run_id", "algorithm", "scenario", "seed", "status"]]
    return runs.assign(reason=np.where(runs["status"] == "failed", "NaN loss", ""))


def test_build_writes_every_table_format_with_provenance(tmp_path):
    frame = tidy_frame(failed=[("vdn", "MMM", 2)])
    suite = make_suite(reports=[{"table": "main", "columns": ["scenario", "eval_set"]},
                                {"table": "iqm", "columns": "eval_set", "cell": "iqm_ci"}])
    result = build_report(frame, runs_of(frame), suite, tmp_path, PROVENANCE, k=2, reps=500, curve_reps=200)
    for name in ("main", "iqm"):
        for ext in ("md", "tex", "csv", "html"):
            path = tmp_path / f"{name}.{ext}"
            assert path in result.paths and path.stat().st_size > 0
            text = path.read_text()
            assert "0123abc" in text and "combat 0.1" in text and "report_generated_at" in text
    md = (tmp_path / "main.md").read_text()
    assert "## Provenance" in md and "- git.dirty: `True`" in md and "- seeds: `[0, 1, 2]`" in md
    assert "last k=2 evaluations" in md and "ddof=1" in md and "missed most of the time" in md
    assert "vdn on MMM, seed 2 (run vdn-MMM-2): NaN loss" in md
    csv = pd.read_csv(tmp_path / "main.csv", comment="#")
    assert len(csv) == 6 and set(csv["n"]) == {3, 2}
    assert "% versions.torch: 2.3.1" in (tmp_path / "main.tex").read_text()
    assert '<section id="provenance">' in (tmp_path / "iqm.html").read_text()
    assert "### synthetic / main" in result.markdown and "### synthetic / iqm" in result.markdown
    assert (tmp_path / "report.md").exists() and (tmp_path / "report.html").exists()


def test_default_table_splits_eval_sets_when_the_suite_has_several(tmp_path):
    spec = default_table(make_suite(), pd.DataFrame())
    assert (spec.metric, spec.rows, spec.columns, spec.cell) == ("final_win_rate", "algorithm",
                                                                 ["scenario", "eval_set"], "mean_std")
    single = Suite(name="s", seeds=2, budget={"env_steps": 10}, evaluation={"interval": 5},
                   algorithms=["qmix"], scenarios=["3m"])
    assert default_table(single, pd.DataFrame()).columns == "scenario"


def test_figures_exist_and_are_not_empty(tmp_path):
    frame = tidy_frame()
    paths = plots.all_plots(frame, per_run_metrics(frame), tmp_path, reps=200)
    names = {p.name for p in paths}
    for stem in ("learning_curves", "iqm_curves", "heatmap_SZ", "performance_profiles",
                 "probability_of_improvement"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    assert "heatmap_MMM.png" not in names            # one eval set only: no heat map
    assert all(p.stat().st_size > 1000 for p in paths)


def test_empty_results_give_missing_cells_and_no_figures(tmp_path):
    empty = tidy_frame().iloc[0:0]
    result = build_report(empty, None, make_suite(), tmp_path, PROVENANCE, reps=100)
    assert result.figures == []
    assert "| qmix | — | — | — |" in result.markdown
    assert pd.read_csv(tmp_path / "main.csv", comment="#")["n"].eq(0).all()


def test_partial_results_still_build(tmp_path):
    frame = tidy_frame(algorithms=("qmix",), seeds=1, steps=(0, 250))
    frame = frame[frame["scenario"] == "SZ"]
    result = build_report(frame, runs_of(frame), make_suite(), tmp_path, PROVENANCE, reps=100, curve_reps=50)
    assert "(n=1/3)" in result.markdown and "| vdn | — | — | — |" in result.markdown
    assert {p.stem for p in result.figures} >= {"learning_curves", "heatmap_SZ"}
    assert "probability_of_improvement" not in {p.stem for p in result.figures}   # one algorithm only


def test_every_plot_skips_empty_input(tmp_path):
    empty = pd.DataFrame(columns=["suite", "algorithm", "scenario", "eval_set", "composition", "seed", "step",
                                  "metric", "value", "run_id", "status"])
    per_run = per_run_metrics(empty)
    assert plots.learning_curves(empty, tmp_path) == []
    assert plots.iqm_curves(empty, tmp_path) == []
    assert plots.composition_heatmaps(per_run, tmp_path) == []
    assert plots.performance_profiles(per_run, tmp_path) == []
    assert plots.improvement_probabilities(per_run, tmp_path) == []
    assert not any(tmp_path.iterdir())


def test_failed_runs_do_not_enter_figures(tmp_path):
    frame = tidy_frame(failed=[("qmix", "SZ", s) for s in range(3)] + [("qmix", "MMM", s) for s in range(3)])
    paths = plots.improvement_probabilities(per_run_metrics(frame), tmp_path, reps=100)
    assert paths == []          # qmix has no finished run, so no pair is left to compare


def test_methods_state_the_time_limit_protocol_and_update_cadence(tmp_path):
    frame = tidy_frame()
    suite = Suite(name="protocol", seeds=3, budget={"env_steps": 1000}, evaluation={"interval": 250},
                  training={"time_limit": "terminal", "n_envs": 4},
                  algorithms=["qmix", {"name": "vdn", "overrides": {"update_every": 4}}], scenarios=["SZ", "MMM"])
    build_report(frame, runs_of(frame), suite, tmp_path, PROVENANCE, reps=200, curve_reps=100)
    text = " ".join((tmp_path / "report.md").read_text().split())
    assert "time limit 'terminal': a time-out ends the return" in text
    assert "one learner update per finished episode" in text and "vdn 4" in text
    assert "every run on the same evaluation starts" in text and "common random numbers" in text
    assert "the spread over seeds leaves out start-to-start noise" in text
