"""Statistics over seeds: the mean with a percentile-bootstrap 95% confidence interval.

Why the percentile bootstrap: with 3-5 seeds nothing justifies a normal assumption, and the interval
stays inside the range of what was observed. It is computed with numpy from a fixed random seed, so
the same results always give the same report. With one seed there is no interval (NaN).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
CI_METHOD = (f"95% percentile bootstrap over seeds ({BOOTSTRAP_RESAMPLES:,} resamples of the seed "
             "values, fixed random seed); no interval with a single seed")


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds and its confidence interval."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


def _resampled_means(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    idx = rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
    return values[idx].mean(axis=1)


def _interval(means: np.ndarray) -> tuple[float, float]:
    alpha = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_mean(values) -> Estimate:
    """Mean and percentile-bootstrap CI of ``values`` (NaNs dropped)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    if len(v) == 1:
        return Estimate(float(v[0]), math.nan, math.nan, 1)
    lo, hi = _interval(_resampled_means(v, np.random.default_rng(BOOTSTRAP_SEED)))
    return Estimate(float(v.mean()), lo, hi, len(v))


def bootstrap_delta(base, cand, relative: bool = False) -> Estimate:
    """``mean(cand) - mean(base)`` (or that over ``mean(base)`` in percent) with a bootstrap CI.

    The two groups are resampled independently (different seeds, different runs). The interval is
    NaN when either side has fewer than two values: the seed noise is then unknown.
    """
    b = np.asarray(base, dtype=float)
    c = np.asarray(cand, dtype=float)
    b, c = b[~np.isnan(b)], c[~np.isnan(c)]
    if len(b) == 0 or len(c) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    scale = 100.0 / b.mean() if relative and b.mean() != 0 else 1.0
    delta = (c.mean() - b.mean()) * scale
    if len(b) < 2 or len(c) < 2:
        return Estimate(float(delta), math.nan, math.nan, min(len(b), len(c)))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    mb, mc = _resampled_means(b, rng), _resampled_means(c, rng)
    diffs = (mc - mb) * 100.0 / mb if relative else mc - mb
    lo, hi = _interval(diffs[np.isfinite(diffs)])
    return Estimate(float(delta), lo, hi, min(len(b), len(c)))


def pareto_front(cost: np.ndarray, score: np.ndarray, cost_lower_is_better: bool = True) -> np.ndarray:
    """Boolean mask of points no other point beats on both cost and score (higher score is better)."""
    c = np.asarray(cost, dtype=float) * (1 if cost_lower_is_better else -1)
    s = np.asarray(score, dtype=float)
    front = np.ones(len(c), dtype=bool)
    for i in range(len(c)):
        dominated = (c <= c[i]) & (s >= s[i]) & ((c < c[i]) | (s > s[i]))
        front[i] = not dominated.any()
    return front
