"""Seeds needed: for each close call in a table, how many seeds per cell would settle it.

A close call: two methods on the same pair whose 95% bootstrap intervals over seeds overlap (the
table cannot order them). Seeds are paired across methods (seed s of every method shares its source
model and its data draws), so the comparison is a paired one: the per-seed differences
``d_s = a_s - b_s`` have mean ``mean(d)`` and spread ``sd(d)`` (ddof 1), and the standardised effect
is ``d_z = |mean(d)| / sd(d)``.

Power calculation (stated in the report): the smallest number of seeds ``n`` at which a two-sided
paired t-test at level ``ALPHA`` detects an effect of size ``d_z`` with probability ``POWER``::

    power(n) = P(|T| > t_{1-ALPHA/2, n-1}),  T ~ noncentral t(df = n - 1, nc = d_z * sqrt(n))

(Cohen 1988, ch. 2; the same formula G*Power uses for "means: difference between two dependent
means"). It takes the observed effect and spread as the truth, so it says where a nightly budget of
seeds would decide something, not a guarantee: with 3 seeds ``sd(d)`` is itself uncertain.

Example::

    >>> seeds_for_effect(0.5)     # a medium paired effect
    34
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd

from bench.analysis.report.stats import bootstrap_mean

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 10_000   # beyond this the answer is "no budget will settle it"
SHOWN = 20           # rows per table; the CSV holds every close call
METHOD = (f"two-sided paired t-test at alpha {ALPHA}, power {POWER:.0%}, taking the observed per-seed "
          "difference and its spread as the truth (Cohen 1988)")


def paired_t_power(d_z: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test with ``n`` pairs at standardised effect ``d_z``."""
    from scipy.stats import nct, t

    df = n - 1
    crit = t.ppf(1 - alpha / 2, df)
    nc = abs(d_z) * math.sqrt(n)
    p = float(nct.sf(crit, df, nc) + nct.cdf(-crit, df, nc))
    if math.isnan(p) and nc > crit + 10:  # scipy's nct gives NaN far in the tail, where power is 1
        return 1.0
    return p


def seeds_for_effect(d_z: float, alpha: float = ALPHA, power: float = POWER,
                     max_n: int = MAX_SEEDS) -> int | None:
    """Smallest ``n >= 2`` with ``paired_t_power(d_z, n) >= power``; None if none up to ``max_n``.

    Power grows with ``n``: from the normal approximation's lower bound
    ``((z_{1-alpha/2} + z_power) / d_z)^2``, doubling brackets the answer, then bisection finds it.
    (Not bisection from ``max_n``: scipy's noncentral t returns NaN at very large noncentrality.)
    """
    from scipy.stats import norm

    if not math.isfinite(d_z) or d_z == 0:
        return None
    lo = max(2, math.floor(((norm.ppf(1 - alpha / 2) + norm.ppf(power)) / abs(d_z)) ** 2))
    if lo > max_n:
        return None
    if paired_t_power(d_z, lo, alpha) >= power:
        return lo
    hi = lo
    while paired_t_power(d_z, hi, alpha) < power:  # invariant: power(lo) < power
        lo, hi = hi, hi * 2
        if lo > max_n:
            return None
    while hi - lo > 1:  # invariant: power(lo) < power <= power(hi)
        mid = (lo + hi) // 2
        if paired_t_power(d_z, mid, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return hi if hi <= max_n else None


def close_calls(ok: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per close call in ``ok`` (rows with status ok): pair, methods, the paired effect,
    its spread, the seeds both have, and the seeds needed (None: no finite budget settles it)."""
    rows = []
    for pair, part in ok.groupby("pair", sort=True):
        by_seed = part.pivot_table(index="seed", columns="method", values=metric, aggfunc="mean")
        for a, b in combinations(sorted(by_seed.columns), 2):
            both = by_seed[[a, b]].dropna()
            if len(both) < 2:
                continue  # no spread to estimate
            ea, eb = bootstrap_mean(by_seed[a]), bootstrap_mean(by_seed[b])
            if ea.lo > eb.hi or eb.lo > ea.hi:
                continue  # the table already orders them
            diff = (both[a] - both[b]).to_numpy()
            sd = float(np.std(diff, ddof=1))
            effect = float(diff.mean())
            d_z = abs(effect) / sd if sd > 0 else (math.inf if effect != 0 else 0.0)
            needed = 2 if math.isinf(d_z) else seeds_for_effect(d_z)
            better, worse = (a, b) if effect >= 0 else (b, a)
            rows.append({"pair": pair, "better": better, "worse": worse, "effect": abs(effect),
                         "sd_diff": sd, "seeds_now": len(both), "seeds_needed": needed})
    cols = ["pair", "better", "worse", "effect", "sd_diff", "seeds_now", "seeds_needed"]
    return pd.DataFrame(rows, columns=cols)


def seeds_blocks(out, part: pd.DataFrame, metric: str, title: str, slug: str) -> list[tuple]:
    """Report blocks: the close calls of one (backbone, budget) slice and the seeds each needs."""
    from bench.analysis.report import render

    ok = part[(part["status"] == "ok") & part[metric].notna()]
    calls = close_calls(ok, metric)
    if calls.empty:
        return []
    calls = calls.assign(_order=calls["seeds_needed"].fillna(math.inf)).sort_values(["_order", "pair"])
    calls = calls.drop(columns="_order").reset_index(drop=True)
    text = calls.assign(effect=calls["effect"].map("{:.2f}".format),
                        sd_diff=calls["sd_diff"].map("{:.2f}".format),
                        seeds_needed=calls["seeds_needed"].map(
                            lambda n: f"> {MAX_SEEDS:,}" if pd.isna(n) else str(int(n)))).astype(str)
    text.index = pd.Index(range(1, len(text) + 1), name="#")
    bold = pd.DataFrame(False, index=text.index, columns=text.columns)
    render.write_table(out, f"seeds__{slug}", text, bold, calls, f"seeds needed, {metric}, {title}")
    shown = text.head(SHOWN)
    more = f" The {len(text) - SHOWN} others: tables/seeds__{slug}.csv." if len(text) > SHOWN else ""
    return [("h3", f"seeds needed, {metric}, {title}"),
            ("p", f"{len(calls)} close call(s): two methods on one pair whose 95% intervals overlap. "
                  f"`effect` is the mean per-seed difference (same seeds paired), `sd_diff` its spread; "
                  f"`seeds_needed` per cell to separate them: {METHOD}. Easiest to settle first.{more}"),
            ("table", shown, bold.head(SHOWN))]
