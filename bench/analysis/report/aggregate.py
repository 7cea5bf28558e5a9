"""Aggregates across domain pairs that survive few seeds (Agarwal et al., 2021, "Deep reinforcement
learning at the edge of the statistical precipice", NeurIPS; the ``rliable`` library).

Each method has, for every task (a domain pair), a handful of runs (seeds). Three summaries:

- **IQM**, the interquartile mean: the mean of the middle 50% of all of a method's run scores
  pooled over tasks (``scipy.stats.trim_mean(x, 0.25)``: ``floor(n/4)`` values cut at each end).
  Less swayed by one outlier run than the mean, less wasteful than the median.
- **Probability of improvement** of method X over a baseline Y (``source_only``), the
  Mann-Whitney statistic averaged over tasks::

      P(X > Y) = 1/T sum_t  1/(n_t m_t) sum_{i,j} [x_ti > y_tj] + 1/2 [x_ti = y_tj]

  0.5: no better, no worse; 1: every run of X beats every run of Y on every task.
- **Average rank**: on each task rank the methods by their mean over runs (1 = best, ties share
  the mean rank), then average the ranks over tasks.

Confidence intervals (95%, percentile) come from the **stratified bootstrap**: each replicate
resamples the runs of every task with replacement, separately per task (so every task keeps its
weight), and recomputes the statistic. For the probability of improvement X's and Y's runs are
resampled independently. The bootstrap's random seed is fixed, so a report is reproducible.

Why not ``rliable`` itself: ``rliable`` 1.2.0 (the latest) pins ``arch < 8``; arch 7.2 fails to
import with pandas 3 (``deprecate_kwarg() missing ... 'new_arg_name'``), and with arch 8.0 rliable's
``get_interval_estimates`` fails (arch no longer accepts ``random_state=None``). Its definitions are
small, so they are written here with numpy and scipy, following rliable's ``metrics.py``
(``aggregate_iqm``, ``probability_of_improvement``) and ``library.StratifiedBootstrap``.

Only tasks on which every compared method (and the baseline) has a value are used, so every method
is summarised over the same tasks; ``tasks`` in the result says how many.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata, trim_mean

BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
BASELINE = "source_only"
CI_METHOD = (f"95% stratified percentile bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples of the seeds "
             "within each pair, fixed random seed; Agarwal et al. 2021)")

Runs = dict[str, dict[str, np.ndarray]]  # method -> task -> run scores


def iqm(scores) -> float:
    """Interquartile mean of all values in ``scores`` (NaNs dropped)."""
    v = np.asarray(scores, dtype=float).ravel()
    v = v[~np.isnan(v)]
    return float(trim_mean(v, 0.25)) if len(v) else float("nan")


def probability_of_improvement(x_by_task: list[np.ndarray], y_by_task: list[np.ndarray]) -> float:
    """``P(X > Y)`` averaged over tasks (ties count one half); task t's runs in ``x_by_task[t]``."""
    per_task = [_p_greater(np.asarray(x, float)[None], np.asarray(y, float)[None])[0]
                for x, y in zip(x_by_task, y_by_task)]
    return float(np.mean(per_task)) if per_task else float("nan")


def _p_greater(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise Mann-Whitney ``P(x > y) + P(x = y)/2`` for x (r, n) and y (r, m)."""
    gt = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2))
    eq = (x[:, :, None] == y[:, None, :]).mean(axis=(1, 2))
    return gt + 0.5 * eq


def average_ranks(task_means: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Mean rank (1 = best) of each method over tasks; ``task_means[..., method, task]``."""
    signed = -task_means if higher_is_better else task_means
    return rankdata(signed, axis=-2, method="average").mean(axis=-1)


def _resample(values: np.ndarray, rng: np.random.Generator, reps: int) -> np.ndarray:
    """(reps, n): ``values`` resampled with replacement ``reps`` times."""
    return values[rng.integers(0, len(values), size=(reps, len(values)))]


def _interval(samples: np.ndarray) -> tuple[float, float]:
    a = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(samples, [a, 1 - a])
    return float(lo), float(hi)


def runs_by_task(df: pd.DataFrame, metric: str, method_col: str = "method", task_col: str = "pair"
                 ) -> Runs:
    """``{method: {task: scores}}`` from a frame with one row per run (NaN scores dropped)."""
    out: Runs = {}
    clean = df[df[metric].notna()]
    for (m, t), g in clean.groupby([method_col, task_col], sort=True):
        out.setdefault(m, {})[t] = g[metric].to_numpy(dtype=float)
    return out


def common_tasks(runs: Runs) -> list[str]:
    """Tasks on which every method has at least one run."""
    sets = [set(tasks) for tasks in runs.values()]
    return sorted(set.intersection(*sets)) if sets else []


def aggregate(df: pd.DataFrame, metric: str = "target_acc", baseline: str = BASELINE,
              method_col: str = "method", task_col: str = "pair", higher_is_better: bool = True,
              reps: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """One row per method: IQM, probability of improvement over ``baseline`` and average rank,
    each with its stratified-bootstrap 95% CI.

    ``df``: one row per run (e.g. ``bench.analysis.report.select.select``'s output, ok rows), with columns
    ``method_col`` (the method), ``task_col`` (the task, e.g. domain pair) and ``metric``.
    Columns returned: ``method``, ``iqm``, ``iqm_lo``, ``iqm_hi``, ``p_improve``, ``p_lo``,
    ``p_hi`` (NaN for the baseline itself, or when it is absent), ``avg_rank``, ``rank_lo``,
    ``rank_hi``, ``tasks`` (tasks used), ``runs`` (runs used). Empty if no task is common to all.
    For a lower-is-better metric pass ``higher_is_better=False``: ranks and P(improvement) flip.
    """
    runs = runs_by_task(df, metric, method_col, task_col)
    tasks = common_tasks(runs)
    columns = ["method", "iqm", "iqm_lo", "iqm_hi", "p_improve", "p_lo", "p_hi", "avg_rank",
               "rank_lo", "rank_hi", "tasks", "runs"]
    if not tasks:
        return pd.DataFrame(columns=columns)
    methods = sorted(runs)
    rng = np.random.default_rng(seed)
    # one stratified bootstrap, shared by every statistic: boot[m][t] is (reps, n_mt)
    boot = {m: {t: _resample(runs[m][t], rng, reps) for t in tasks} for m in methods}
    sign = 1.0 if higher_is_better else -1.0
    means = np.array([[runs[m][t].mean() for t in tasks] for m in methods])
    boot_means = np.stack([np.stack([boot[m][t].mean(axis=1) for t in tasks], axis=-1) for m in methods],
                          axis=1)                              # (reps, methods, tasks)
    ranks, boot_ranks = average_ranks(means, higher_is_better), average_ranks(boot_means, higher_is_better)
    rows = []
    for i, m in enumerate(methods):
        pooled = np.concatenate([boot[m][t] for t in tasks], axis=1)
        iqm_lo, iqm_hi = _interval(trim_mean(pooled, 0.25, axis=1))
        p = p_lo = p_hi = float("nan")
        if baseline in runs and m != baseline:
            x, y = [sign * runs[m][t] for t in tasks], [sign * runs[baseline][t] for t in tasks]
            p = probability_of_improvement(x, y)
            boot_p = np.mean([_p_greater(sign * boot[m][t], sign * boot[baseline][t]) for t in tasks], axis=0)
            p_lo, p_hi = _interval(boot_p)
        rank_lo, rank_hi = _interval(boot_ranks[:, i])
        rows.append({"method": m, "iqm": iqm(np.concatenate([runs[m][t] for t in tasks])),
                     "iqm_lo": iqm_lo, "iqm_hi": iqm_hi, "p_improve": p, "p_lo": p_lo, "p_hi": p_hi,
                     "avg_rank": float(ranks[i]), "rank_lo": rank_lo, "rank_hi": rank_hi,
                     "tasks": len(tasks), "runs": int(sum(len(runs[m][t]) for t in tasks))})
    return pd.DataFrame(rows, columns=columns)
