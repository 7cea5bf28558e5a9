"""The paired (same-seed) delta of ``bench compare --paired``.

A baseline and a candidate run from the same suite hold the same seeds of each cell, and a seed fixes
the cell's data split, initial weights and batch order: seed ``s`` of the candidate differs from seed
``s`` of the baseline by the code (and the machine's non-determinism), not by the draw. The unpaired
condition resamples the two sides' seeds apart, so its interval is as wide as the seed-to-seed spread
(2-3 points in ``suites/ci.yaml``) and a 1-point drop on every seed stays ``within noise``. Pairing
takes the seed's own effect out::

    d_s = candidate_s - baseline_s      over the seeds ok on both sides (same cell key and seed;
                                        under a rule other than ``last``, the same seed's picks)
    costs: d_s in percent of the baseline's mean over those seeds, so mean(d) is the table's delta
    t   = mean(d) / (sd(d) / sqrt(n))   n paired seeds, sd with n - 1 degrees of freedom

A **paired regression** is a metric whose mean(d) is (1) beyond its threshold in the bad direction
(the fixed one, or the ``--calibrate``d one) and (2) significant under the one-sided paired t-test:
p < ALPHA with n - 1 degrees of freedom, the alternative being "the candidate is worse". When every
seed moved by exactly the same amount (sd(d) = 0) there is no noise left: p = 0 for a move in the bad
direction. With fewer than two paired seeds the noise is unknown and the threshold alone decides, as
in the unpaired gate. ``improved`` is the mirror image.

Why a t-test: with 3-5 seeds a bootstrap of d cannot reach the 5% tails (3 values have 10 distinct
resampled means), and the per-seed differences of one code change are close to a shift plus small
noise; the t-test is the textbook paired test (Bouthillier et al., 2021, pair runs by seed for the
same reason). Under pure seed noise (mean(d) = 0 within the threshold) condition (1) fails whatever
the test says, so the paired gate never flags more than its threshold allows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
RULE = (f"paired (same cell key and seed on both sides): d = candidate - baseline per seed; a regression "
        f"is mean(d) beyond the threshold in the bad direction with a one-sided paired t-test "
        f"p < {ALPHA:g} (n - 1 df; sd(d) = 0: p = 0; under 2 paired seeds the threshold alone decides)")


@dataclass(frozen=True)
class Paired:
    """The per-seed differences of one metric in one cell, summarised."""

    mean: float       # mean(d): the paired delta (NaN: no seed on both sides)
    sd: float         # sd(d), n - 1 degrees of freedom (NaN: fewer than 2 paired seeds)
    n: int            # paired seeds
    p_worse: float    # one-sided p-value of "the candidate is worse" (NaN: noise unknown)
    p_better: float   # one-sided p-value of "the candidate is better"


def differences(base: pd.DataFrame, cand: pd.DataFrame, metric: str, on: list[str],
                relative: bool = False) -> np.ndarray:
    """``candidate - baseline`` of ``metric`` for each seed present, with a value, on both sides
    (rows matched by the columns ``on``); in percent of the baseline's mean when ``relative``."""
    b = base[on + [metric]].dropna().drop_duplicates(on)
    c = cand[on + [metric]].dropna().drop_duplicates(on)
    both = b.merge(c, on=on, suffixes=("_b", "_c"))
    vb, vc = both[f"{metric}_b"].to_numpy(float), both[f"{metric}_c"].to_numpy(float)
    d = vc - vb
    if relative and len(vb):
        mean_b = vb.mean()
        d = d * 100.0 / mean_b if mean_b != 0 else np.full_like(d, math.nan)
    return d[~np.isnan(d)]


def paired_test(d: np.ndarray, higher_is_better: bool) -> Paired:
    """mean and sd of the differences ``d`` and the one-sided paired t-test in each direction."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    if n == 0:
        return Paired(math.nan, math.nan, 0, math.nan, math.nan)
    mean = float(d.mean())
    if n < 2:
        return Paired(mean, math.nan, 1, math.nan, math.nan)
    sd = float(d.std(ddof=1))
    bad = -mean if higher_is_better else mean  # > 0: the candidate moved in the bad direction
    if sd == 0:  # every seed moved by the same amount: no noise to test against
        return Paired(mean, 0.0, n, 0.0 if bad > 0 else 1.0, 0.0 if bad < 0 else 1.0)
    t = bad / (sd / math.sqrt(n))
    return Paired(mean, sd, n, float(stats.t.sf(t, n - 1)), float(stats.t.cdf(t, n - 1)))


def describe(p: Paired, unit: str = "") -> str:
    """``-1.00 (sd 0.10, 3 seeds, p(worse) 0.0017)``: the paired column of the comparison table."""
    if math.isnan(p.mean):
        return "no seed on both sides"
    if math.isnan(p.sd):
        return f"{p.mean:+.2f}{unit} (1 seed: noise unknown)"
    return f"{p.mean:+.2f}{unit} (sd {p.sd:.2f}, {p.n} seeds, p(worse) {p.p_worse:.2g})"
