"""Aggregates across seeds and tasks, with stratified bootstrap confidence intervals.

Scores are arrays shaped `[n_runs, n_tasks]`, as in rliable. Every aggregate reduces the last two
axes, so the same function also takes a batch of bootstrap resamples `[reps, n_runs, n_tasks]` and
returns one value per resample; this is what makes the bootstrap fast.

`stratified_bootstrap_ci` returns the same numbers as rliable 1.2.0's
`library.get_interval_estimates` given the same NumPy random state: rliable draws, for each key of
the score dict in order and for each repetition in order, `np.random.choice(n_runs, (n_runs,
n_tasks))` from the global legacy generator and resamples the runs of each task independently
(`scores[idx[n, m], m]`). Legacy bounded integers consume the Mersenne-Twister stream element by
element with no carried buffer, so one `choice(n_runs, (reps, n_runs, n_tasks))` call yields exactly
the indices of `reps` consecutive per-repetition calls (pinned by a test); the intervals are then
taken as arch's `IIDBootstrap.conf_int` does (linear `np.percentile` at `100·(1−c)/2` and
`100·(1−(1−c)/2)` for the percentile method).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Union

import numpy as np
from scipy import stats as sps

Scores = np.ndarray  # [n_runs, n_tasks] (or [..., n_runs, n_tasks] for a batch)
ScoreInput = Union[np.ndarray, Sequence[np.ndarray]]
Estimate = tuple[np.ndarray, np.ndarray, np.ndarray]  # (point, lower, upper)

CI_METHODS = ("percentile", "basic", "bc", "norm")
_BC_ALIASES = ("bc", "debiased", "bias-corrected")
_CHUNK_ELEMENTS = 4_000_000  # resampled values held at once per chunk (~32 MB of float64)


# --- aggregates ---------------------------------------------------------------------------------

def _flat(scores: np.ndarray) -> np.ndarray:
    """Runs and tasks flattened into one last axis: `[..., n_runs * n_tasks]`."""
    scores = np.asarray(scores, dtype=float)
    return scores.reshape(scores.shape[:-2] + (-1,))


def _task_means(scores: np.ndarray) -> np.ndarray:
    """Per-task means over runs, `[..., n_tasks]` (einsum: ~10× faster than a middle-axis mean)."""
    scores = np.asarray(scores, dtype=float)
    return np.einsum("...nm->...m", scores) / scores.shape[-2]


def mean(scores: Scores) -> np.ndarray:
    """Mean of the per-task means, (1/M) Σ_m (1/N) Σ_n x[n, m]: the mean of all N·M scores."""
    return np.mean(_flat(scores), axis=-1)


def median(scores: Scores) -> np.ndarray:
    """Median over tasks of the per-task means (1/N) Σ_n x[n, m], as rliable's aggregate_median."""
    ordered = np.sort(_task_means(scores), axis=-1)  # sorting small rows beats np.median's partition
    m = ordered.shape[-1]
    if m % 2:
        return ordered[..., m // 2]
    return (ordered[..., m // 2 - 1] + ordered[..., m // 2]) / 2


def iqm(scores: Scores) -> np.ndarray:
    """Interquartile mean: mean of the N·M scores after dropping the ⌊0.25·N·M⌋ lowest and highest.

    This is the 25 % trimmed mean of all runs and tasks pooled (scipy.stats.trim_mean(x, 0.25, None)).
    """
    flat = _flat(scores)
    n = flat.shape[-1]
    cut = int(0.25 * n)
    kept = np.sort(flat, axis=-1)[..., cut:n - cut]  # sorting rows beats a two-kth partition
    return np.mean(kept, axis=-1)


def optimality_gap(scores: Scores, gamma: float = 1.0) -> np.ndarray:
    """Optimality gap: γ − mean over all N·M scores of min(x, γ); how far runs fall short of γ."""
    return gamma - np.mean(_flat(np.minimum(scores, gamma)), axis=-1)


def std(scores: Scores, ddof: int = 1) -> np.ndarray:
    """Standard deviation of all N·M scores pooled, sqrt(Σ (x − x̄)² / (N·M − ddof))."""
    return np.std(_flat(scores), axis=-1, ddof=ddof)


def iqr(scores: Scores) -> tuple[np.ndarray, np.ndarray]:
    """(q25, q75): the 25th and 75th percentiles (linear interpolation) of all N·M scores pooled."""
    q25, q75 = np.percentile(_flat(scores), [25.0, 75.0], axis=-1)
    return q25, q75


def probability_of_improvement(x: Scores, y: Scores) -> np.ndarray:
    """Average probability of improvement P(X > Y) = (1/M) Σ_m P(X_m > Y_m).

    Per task m, P(X_m > Y_m) = U_m / (N_x·N_y) with U_m = Σ_ij [x_im > y_jm] + ½ [x_im = y_jm] the
    Mann–Whitney U statistic of X's runs against Y's runs on that task (ties count one half).
    x is `[..., N_x, M]`, y is `[..., N_y, M]`.
    """
    x = np.asarray(x, dtype=float)[..., :, None, :]  # [..., N_x, 1, M]
    y = np.asarray(y, dtype=float)[..., None, :, :]  # [..., 1, N_y, M]
    n_pairs = x.shape[-3] * y.shape[-2]
    wins = np.count_nonzero(x > y, axis=(-3, -2)) + 0.5 * np.count_nonzero(x == y, axis=(-3, -2))
    return np.mean(wins / n_pairs, axis=-1)


AGGREGATES: dict[str, Callable[[Scores], np.ndarray]] = {
    "median": median,
    "iqm": iqm,
    "mean": mean,
    "optimality_gap": optimality_gap,
}


# --- stratified bootstrap -----------------------------------------------------------------------

def stratified_bootstrap_ci(
    score_dict: Mapping[str, ScoreInput],
    aggregate_fns: Sequence[Callable[..., np.ndarray]] | Callable[..., np.ndarray],
    reps: int = 50_000,
    confidence: float = 0.95,
    method: str = "percentile",
    seed: int | None = None,
) -> dict[str, Estimate]:
    """Point estimates and stratified bootstrap CIs, equal to rliable's `get_interval_estimates`.

    Each value of `score_dict` is either one array `[n_runs, n_tasks]` (runs are resampled with
    replacement within each task) or a sequence of such arrays (each resampled independently in
    turn, as rliable's StratifiedIndependentBootstrap does; e.g. `(x, y)` for the probability of
    improvement). `aggregate_fns` is one aggregate or a list of them; they are evaluated together
    on the same resamples, like rliable's `lambda x: np.array([f(x) for f in fns])`.

    Aggregates should reduce the last two axes (all of this module's do) so a whole batch of
    resamples is evaluated at once; any other callable is detected on a probe and called once per
    resample instead, which is slower but gives the same numbers.

    Randomness: with `seed=None` the global legacy NumPy generator is used and advanced, exactly as
    rliable does (so `np.random.seed(s)` beforehand reproduces rliable after the same call);
    `seed=s` gives those same numbers from a private `RandomState(s)`, leaving the global state alone.

    Returns `{key: (point, lower, upper)}`; each is an array of shape `(len(aggregate_fns),)`, or a
    0-d array when a single callable was passed.
    """
    if method in _BC_ALIASES:
        method = "bc"
    if method not in CI_METHODS:
        raise ValueError(f"method={method!r} is not supported; use one of {', '.join(CI_METHODS)}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r} must lie strictly between 0 and 1")
    if reps < 1:
        raise ValueError(f"reps={reps!r} must be a positive number of bootstrap repetitions")
    single = callable(aggregate_fns)
    fns = [aggregate_fns] if single else list(aggregate_fns)
    if not fns:
        raise ValueError("aggregate_fns is empty: give at least one aggregate function")
    choice = np.random.choice if seed is None else np.random.RandomState(seed).choice

    out: dict[str, Estimate] = {}
    for key, value in score_dict.items():
        arrays = _as_arrays(key, value)
        point = _evaluate(fns, arrays)                              # [k]
        results = _bootstrap_statistics(fns, arrays, reps, choice)  # [reps, k]
        lo, hi = _interval(point, results, confidence, method)
        if single and point.size == 1:
            point, lo, hi = point.reshape(()), lo.reshape(()), hi.reshape(())
        out[key] = (point, lo, hi)
    return out


def probability_of_improvement_ci(
    pairs: Mapping[str, tuple[np.ndarray, np.ndarray]],
    reps: int = 50_000,
    confidence: float = 0.95,
    method: str = "percentile",
    seed: int | None = None,
) -> dict[str, Estimate]:
    """P(X > Y) with its stratified bootstrap CI for each `{name: (x, y)}` pair, as rliable's
    `get_interval_estimates({name: [x, y]}, probability_of_improvement)`: per repetition the runs of
    x, then of y, are resampled within each task independently. Values are 0-d arrays."""
    return stratified_bootstrap_ci(
        {key: tuple(pair) for key, pair in pairs.items()}, probability_of_improvement,
        reps=reps, confidence=confidence, method=method, seed=seed)


def _as_arrays(key: str, value: ScoreInput) -> list[np.ndarray]:
    """The score arrays behind one dict entry, checked to be at least `[n_runs, n_tasks]`."""
    single = isinstance(value, np.ndarray) or hasattr(value, "to_numpy")  # ndarray or DataFrame
    arrays = [value] if single else list(value)
    arrays = [np.asarray(a, dtype=float) for a in arrays]
    for a in arrays:
        if a.ndim < 2 or a.shape[0] < 1:
            raise ValueError(f"score_dict[{key!r}] has shape {a.shape}; scores must be arrays "
                             f"[n_runs, n_tasks] with at least one run")
    if len(arrays) > 1 and len({a.shape[1:] for a in arrays}) > 1:
        raise ValueError(f"score_dict[{key!r}]: arrays have shapes {[a.shape for a in arrays]}; "
                         f"they must agree in every axis but the first (runs)")
    return arrays


def _evaluate(fns, arrays: list[np.ndarray]) -> np.ndarray:
    """All aggregates of one sample, concatenated into a 1-D vector."""
    return np.concatenate([np.atleast_1d(np.asarray(f(*arrays), dtype=float)).ravel() for f in fns])


def _bootstrap_statistics(fns, arrays: list[np.ndarray], reps: int, choice) -> np.ndarray:
    """`[reps, k]` aggregates of the stratified resamples, drawn in rliable's RNG order."""
    per_rep = sum(a.size for a in arrays)
    chunk = max(1, min(reps, _CHUNK_ELEMENTS // max(per_rep, 1)))
    batched = None
    parts = []
    done = 0
    while done < reps:
        c = min(chunk, reps - done)
        batch = _resample(arrays, c, choice)  # list of [c, n_runs_i, n_tasks, ...]
        if batched is None:
            batched = _supports_batches(fns, batch)
        if batched:
            parts.append(np.column_stack([np.asarray(f(*batch), dtype=float).reshape(c, -1)
                                          for f in fns]))
        else:
            parts.append(np.stack([_evaluate(fns, [b[r] for b in batch]) for r in range(c)]))
        done += c
    return np.concatenate(parts, axis=0)


def _resample(arrays: list[np.ndarray], c: int, choice) -> list[np.ndarray]:
    """`c` consecutive stratified resamples of every array, consuming the stream as rliable does.

    rliable draws `choice(n_i, shape_i)` for array i = 1..k inside each repetition. With one array,
    or arrays of one shape, these draws are contiguous in the stream and one call covers all `c`
    repetitions; otherwise the draws of different arrays interleave with different bounds, so they
    are made per repetition.
    """
    shape = arrays[0].shape
    if all(a.shape == shape for a in arrays):
        idx = choice(shape[0], (c, len(arrays)) + shape)  # [c, k, n_runs, n_tasks, ...]
        return [_gather(a, idx[:, i]) for i, a in enumerate(arrays)]
    draws = [[choice(a.shape[0], a.shape) for a in arrays] for _ in range(c)]
    return [_gather(a, np.stack([d[i] for d in draws])) for i, a in enumerate(arrays)]


def _gather(scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """`out[r, n, m, ...] = scores[idx[r, n, m, ...], m, ...]`: runs resampled within each stratum."""
    stride = scores[0].size
    stratum = np.arange(stride).reshape(scores.shape[1:])  # [n_tasks, ...]
    flat_idx = np.multiply(idx, stride)
    flat_idx += stratum
    return np.take(scores.reshape(-1), flat_idx)


def _supports_batches(fns, batch: list[np.ndarray]) -> bool:
    """Whether every aggregate maps a batch of resamples to one result per resample (probe)."""
    probe = [b[:3] for b in batch]
    n = probe[0].shape[0]
    looped = np.stack([_evaluate(fns, [p[r] for p in probe]) for r in range(n)])
    try:
        parts = []
        for f in fns:
            res = np.asarray(f(*probe), dtype=float)
            if res.ndim == 0 or res.shape[0] != n:
                return False
            parts.append(res.reshape(n, -1))
        together = np.column_stack(parts)
    except Exception:  # noqa: BLE001 - any failure means "call it per resample"
        return False
    return together.shape == looped.shape and np.allclose(together, looped, rtol=1e-12, atol=1e-12,
                                                          equal_nan=True)


def _interval(base: np.ndarray, results: np.ndarray, confidence: float, method: str):
    """Lower and upper CI bounds from bootstrap statistics, computed as arch's conf_int does."""
    alpha = (1.0 - confidence) / 2
    tails = np.array([[alpha, 1.0 - alpha]] * base.shape[0])  # [k, 2]
    if method == "norm":
        errors = results - results.mean(axis=0)
        std_err = np.sqrt(np.diag(errors.T.dot(errors) / results.shape[0]))
        z = sps.norm.ppf(tails)
        return base + z[:, 0] * std_err, base + z[:, 1] * std_err
    if method == "bc":
        p = (results < base).mean(axis=0)
        if p.min() <= 0.0 or p.max() >= 1.0:
            raise RuntimeError("bias-corrected bootstrap: the share of resamples below the point "
                               "estimate is 0 or 1, so the bias cannot be corrected; use 'percentile'")
        b = sps.norm.ppf(p)[:, None]
        z = sps.norm.ppf(tails)
        percentiles = sps.norm.cdf(b + (b + z) / (1.0 - 0.0 * (b + z))) * 100
    else:
        percentiles = 100 * tails
    lower = np.empty(base.shape[0])
    upper = np.empty(base.shape[0])
    for i in range(base.shape[0]):
        lower[i], upper[i] = np.percentile(results[:, i], list(percentiles[i]))
    if method == "basic":
        lower, upper = 2.0 * base - upper, 2.0 * base - lower
    return lower, upper
