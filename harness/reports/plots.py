"""Report figures (seaborn, PNG + PDF): learning curves, IQM sample efficiency, train × eval heat
maps, performance profiles and probability of improvement.

Each function returns the paths it wrote and writes nothing (and never raises) when its data is
missing, so a report of a half-finished suite still builds.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from harness.analysis import stats  # noqa: E402

FORMATS = ("png", "pdf")
ALL = "all"
MAX_CURVE_POINTS = 40      # bootstrap at most this many steps per IQM curve


def _save(fig: plt.Figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in FORMATS:
        path = out_dir / f"{stem}.{ext}"
        fig.savefig(path, bbox_inches="tight", dpi=150)
        paths.append(path)
    plt.close(fig)
    return paths


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in str(text))


def _curves(frame: pd.DataFrame, metric: str = "win_rate") -> pd.DataFrame:
    """Aggregate-composition evaluation curves of runs that did not fail."""
    if frame is None or frame.empty:
        return pd.DataFrame()
    data = frame[(frame["metric"] == metric) & (frame["composition"].astype(str) == ALL)]
    if "status" in data:
        data = data[data["status"].fillna("done") != "failed"]
    return _align_steps(data.dropna(subset=["value", "step"]))


def _align_steps(data: pd.DataFrame) -> pd.DataFrame:
    """Put the k-th evaluation of every run of a scenario at one step (the runs' median for k).

    Runs evaluate when their env-step count crosses each interval, which lands a few steps apart
    from run to run; aggregating over seeds at exact steps would compare single runs.
    """
    if data.empty:
        return data
    data = data.copy()
    data["_k"] = data.groupby(["run_id", "eval_set"])["step"].rank(method="dense").astype(int)
    data["step"] = data.groupby(["scenario", "eval_set", "_k"])["step"].transform("median")
    return data.drop(columns="_k")


def _finals(per_run: pd.DataFrame, metric: str = "final_win_rate") -> pd.DataFrame:
    """Finished runs' values of one per-run metric."""
    if per_run is None or per_run.empty:
        return pd.DataFrame()
    data = per_run[per_run["metric"] == metric]
    if "status" in data:
        data = data[data["status"].fillna("done") == "done"]
    return data.dropna(subset=["value"])


def _score_matrices(data: pd.DataFrame, task_col: str = "scenario") -> dict[str, np.ndarray]:
    """Per algorithm a [n_seeds, n_tasks] matrix over the tasks every algorithm has; complete seeds only."""
    if data.empty:
        return {}
    tasks = sorted(set.intersection(*(set(g[task_col]) for _, g in data.groupby("algorithm"))))
    out = {}
    for alg, g in data[data[task_col].isin(tasks)].groupby("algorithm", sort=True):
        m = g.pivot_table(index="seed", columns=task_col, values="value", aggfunc="mean")
        m = m.reindex(columns=tasks).dropna(how="any")
        if len(m) and len(tasks):
            out[str(alg)] = m.to_numpy(float)
    return out


def _eval_order(values) -> list[str]:
    """Eval sets in first-seen order with the training set first."""
    seen = list(dict.fromkeys(str(v) for v in values))
    return sorted(seen, key=lambda v: v != "train")


def _palette(algorithms) -> dict[str, tuple]:
    """One fixed colour per algorithm (sorted by name) so every figure agrees."""
    names = sorted({str(a) for a in algorithms})
    return dict(zip(names, sns.color_palette(n_colors=max(len(names), 1))))


def learning_curves(frame: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Win rate over env steps per scenario × eval set: median over seeds with a 25–75 % band."""
    data = _curves(frame)
    if data.empty:
        return []
    # one panel per (scenario, eval set) that has data, so scenarios without an eval set leave no hole
    data = data.assign(panel=data["scenario"].astype(str) + " · eval " + data["eval_set"].astype(str))
    panels = [f"{scenario} · eval {eval_set}" for scenario in dict.fromkeys(data["scenario"].astype(str))
              for eval_set in _eval_order(data.loc[data["scenario"].astype(str) == scenario, "eval_set"])]
    n_panels = len(panels)
    palette = _palette(data["algorithm"])
    grid = sns.relplot(data=data, x="step", y="value", hue="algorithm", hue_order=list(palette),
                       palette=palette, col="panel", col_order=panels,
                       col_wrap=min(3, n_panels), kind="line", estimator="median", errorbar=("pi", 50),
                       height=3, aspect=1.3, facet_kws={"sharex": False})
    grid.set_titles("{col_name}")
    grid.set_axis_labels("environment steps", "win rate (median, 25–75 %)")
    return _save(grid.figure, out_dir, "learning_curves")


SAME_BUDGET = 0.1          # tasks whose last evaluations lie within 10 % share an env-step axis


def _curve_grid(by_set: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Every run's curve on one grid of x shared by all tasks, and the axis label.

    x is the env step when all tasks train about equally long, else the fraction of the task's
    training (step / the task's median last evaluation step), so each grid point holds every task.
    The grid spans the x range every task covers; a run is NaN outside its own evaluations.
    """
    last = by_set.groupby(["scenario", "run_id"])["step"].max().groupby("scenario").median()
    steps_axis = last.max() <= (1 + SAME_BUDGET) * last.min()
    data = by_set.assign(x=by_set["step"] if steps_axis else by_set["step"] / by_set["scenario"].map(last))
    span = data.groupby("scenario")["x"].agg(["min", "max"])
    lo, hi = float(span["min"].max()), float(span["max"].min())
    grid = np.linspace(lo, hi, MAX_CURVE_POINTS) if hi > lo else np.array([lo])
    rows = []
    for (alg, scenario, seed, _), run in data.groupby(["algorithm", "scenario", "seed", "run_id"], sort=False):
        run = run.groupby("x", as_index=False)["value"].mean().sort_values("x")
        values = np.interp(grid, run["x"], run["value"], left=np.nan, right=np.nan)
        rows += [(alg, scenario, seed, g, v) for g, v in zip(grid, values)]
    curves = pd.DataFrame(rows, columns=["algorithm", "scenario", "seed", "x", "value"])
    return curves, grid, "environment steps" if steps_axis else "fraction of training (env steps / task's budget)"


def iqm_curve_table(frame: pd.DataFrame, reps: int = 2_000, seed: int = 0) -> pd.DataFrame:
    """IQM over tasks and seeds with stratified bootstrap CIs along one grid per eval set.

    Each run's curve is interpolated onto the grid (`_curve_grid`), and a point is drawn only when
    every task of the curve has complete seeds there, so the task set is fixed along the curve.
    Columns: eval_set, algorithm, x, iqm, lo, hi, axis.
    """
    data = _curves(frame)
    records = []
    for eval_set in _eval_order(data["eval_set"]) if not data.empty else []:
        by_set = data[data["eval_set"].astype(str) == eval_set]
        tasks = sorted(set.intersection(*(set(g["scenario"]) for _, g in by_set.groupby("algorithm"))))
        curves, grid, axis = _curve_grid(by_set[by_set["scenario"].isin(tasks)])
        for x in grid:
            matrices = _score_matrices(curves[curves["x"] == x].dropna(subset=["value"]))
            if not matrices or any(m.shape[1] != len(tasks) for m in matrices.values()):
                continue
            estimates = stats.stratified_bootstrap_ci(matrices, stats.iqm, reps=reps, seed=seed)
            records += [{"eval_set": eval_set, "algorithm": alg, "x": float(x), "iqm": float(p),
                         "lo": float(lo), "hi": float(hi), "axis": axis}
                        for alg, (p, lo, hi) in estimates.items()]
    return pd.DataFrame.from_records(records, columns=["eval_set", "algorithm", "x", "iqm", "lo", "hi", "axis"])


def iqm_curves(frame: pd.DataFrame, out_dir: Path, reps: int = 2_000, seed: int = 0) -> list[Path]:
    """IQM win rate across scenarios and seeds, with stratified bootstrap CIs, per eval set."""
    table = iqm_curve_table(frame, reps, seed)
    if table.empty:
        return []
    sets = list(dict.fromkeys(table["eval_set"]))
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 3.2), squeeze=False)
    palette = _palette(table["algorithm"])
    for ax, eval_set in zip(axes[0], sets):
        mine = table[table["eval_set"] == eval_set]
        for alg, g in mine.groupby("algorithm", sort=True):
            ax.plot(g["x"], g["iqm"], label=alg, color=palette[alg])
            ax.fill_between(g["x"], g["lo"], g["hi"], alpha=0.25, color=palette[alg], linewidth=0)
        ax.set(title=f"eval set {eval_set}", xlabel=mine["axis"].iloc[0], ylabel="IQM win rate (95 % CI)")
    axes[0][-1].legend(frameon=False, fontsize="small")
    return _save(fig, out_dir, "iqm_curves")


def composition_heatmaps(per_run: pd.DataFrame, out_dir: Path, metric: str = "final_win_rate") -> list[Path]:
    """Per scenario, mean final win rate of each algorithm (rows) on each eval set / composition (columns).

    Drawn only when a scenario has more than one evaluation set.
    """
    data = _finals(per_run, metric)
    if data.empty:
        return []
    paths = []
    for scenario, g in data.groupby("scenario", sort=True):
        if g["eval_set"].nunique() < 2:
            continue
        labelled = _composition_columns(g)
        matrix = labelled.pivot_table(index="algorithm", columns="column", values="value", aggfunc="mean")
        matrix = matrix.reindex(index=list(dict.fromkeys(labelled["algorithm"])),
                                columns=list(dict.fromkeys(labelled["column"])))
        if matrix.empty:
            continue
        fig, ax = plt.subplots(figsize=(1.1 * matrix.shape[1] + 2.5, 0.5 * matrix.shape[0] + 1.5))
        sns.heatmap(matrix, annot=True, fmt=".2f", vmin=0, vmax=1 if "win_rate" in metric else None,
                    cmap="viridis", ax=ax, cbar_kws={"label": f"{metric} (mean over seeds)"})
        ax.set(title=f"{scenario}: train × evaluation compositions", xlabel="eval set[/composition]",
               ylabel="algorithm")
        paths += _save(fig, out_dir, f"heatmap_{_slug(scenario)}")
    return paths


def _composition_columns(data: pd.DataFrame) -> pd.DataFrame:
    """Rows labelled by heat-map column: `eval_set/composition` where an eval set reports single
    compositions, else the eval set's aggregate under its own name."""
    parts = []
    for eval_set in _eval_order(data["eval_set"]):
        g = data[data["eval_set"].astype(str) == eval_set]
        specific = g[g["composition"].astype(str) != ALL]
        if specific.empty:
            parts.append(g.assign(column=str(eval_set)))
        else:
            parts.append(specific.assign(column=str(eval_set) + "/" + specific["composition"].astype(str)))
    return pd.concat(parts, ignore_index=True)


def _profile_fn(taus: np.ndarray):
    """Score distribution at thresholds tau (rliable's performance profile): per task the fraction of
    runs scoring above tau, averaged over tasks; maps `[..., n_runs, n_tasks]` to `[..., len(taus)]`."""
    def profile(scores: np.ndarray) -> np.ndarray:
        return (np.asarray(scores)[..., None] > taus).mean(axis=-3).mean(axis=-2)
    return profile


def performance_profiles(per_run: pd.DataFrame, out_dir: Path, metric: str = "final_win_rate",
                         reps: int = 2_000, seed: int = 0) -> list[Path]:
    """Fraction of runs (seeds × scenarios) scoring above tau, per algorithm and eval set, with a
    stratified bootstrap 95 % band (rliable style)."""
    data = _finals(per_run, metric)
    if data.empty:
        return []
    lo, hi = (0.0, 1.0) if "win_rate" in metric else (float(data["value"].min()), float(data["value"].max()))
    taus = np.linspace(lo, hi, 101)
    sets = _eval_order(data["eval_set"])
    palette = _palette(data["algorithm"])
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 3.2), squeeze=False)
    drawn = False
    for ax, eval_set in zip(axes[0], sets):
        matrices = _score_matrices(data[data["eval_set"].astype(str) == eval_set])
        if not matrices:
            continue
        estimates = stats.stratified_bootstrap_ci(matrices, _profile_fn(taus), reps=reps, seed=seed)
        for alg, (point, low, high) in estimates.items():
            ax.plot(taus, point, label=alg, color=palette[alg], drawstyle="steps-post")
            ax.fill_between(taus, low, high, step="post", alpha=0.2, color=palette[alg], linewidth=0)
            drawn = True
        ax.set(title=f"eval set {eval_set}", xlabel=f"{metric} τ", ylabel="fraction of runs > τ", ylim=(0, 1.02))
    if not drawn:
        plt.close(fig)
        return []
    axes[0][-1].legend(frameon=False, fontsize="small")
    return _save(fig, out_dir, "performance_profiles")


def improvement_probabilities(per_run: pd.DataFrame, out_dir: Path, metric: str = "final_win_rate",
                              reps: int = 2_000, seed: int = 0) -> list[Path]:
    """P(X > Y) for each pair of algorithms with stratified bootstrap CIs, per eval set."""
    data = _finals(per_run, metric)
    if data.empty:
        return []
    records = []
    for eval_set in _eval_order(data["eval_set"]):
        matrices = _score_matrices(data[data["eval_set"].astype(str) == eval_set])
        pairs = {f"P({x} > {y})": (matrices[x], matrices[y])
                 for x, y in itertools.combinations(sorted(matrices), 2)}
        if not pairs:
            continue
        estimates = stats.probability_of_improvement_ci(pairs, reps=reps, seed=seed)
        records += [{"eval_set": str(eval_set), "pair": name, "p": float(p), "lo": float(lo), "hi": float(hi)}
                    for name, (p, lo, hi) in estimates.items()]
    if not records:
        return []
    table = pd.DataFrame.from_records(records)
    sets = list(dict.fromkeys(table["eval_set"]))
    order = list(dict.fromkeys(table["pair"]))            # one row per pair, same in every panel
    fig, axes = plt.subplots(1, len(sets), figsize=(3.6 * len(sets) + 1.6, 0.45 * len(order) + 1.4),
                             squeeze=False, sharey=True)
    for ax, eval_set in zip(axes[0], sets):
        t = table[table["eval_set"] == eval_set]
        y = [order.index(p) for p in t["pair"]]
        ax.errorbar(t["p"], y, xerr=[t["p"] - t["lo"], t["hi"] - t["p"]], fmt="o", capsize=3)
        ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set(xlim=(-0.03, 1.03), ylim=(len(order) - 0.5, -0.5), title=f"eval set {eval_set}",
               xlabel="P(X > Y), 95 % CI")
    axes[0][0].set_yticks(range(len(order)), order)
    fig.tight_layout()
    return _save(fig, out_dir, "probability_of_improvement")


def all_plots(frame: pd.DataFrame, per_run: pd.DataFrame, out_dir: Path, reps: int = 2_000,
              seed: int = 0) -> list[Path]:
    """Every figure that has data, in a fixed order."""
    return [*learning_curves(frame, out_dir), *iqm_curves(frame, out_dir, reps, seed),
            *composition_heatmaps(per_run, out_dir), *performance_profiles(per_run, out_dir, reps=reps, seed=seed),
            *improvement_probabilities(per_run, out_dir, reps=reps, seed=seed)]
