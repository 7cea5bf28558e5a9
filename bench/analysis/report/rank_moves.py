"""Rank stability across snapshots: which methods changed places from one night to the next, and
whether the move is beyond the seeds' noise.

Within one (backbone, label budget, pair), a method ``a`` *overtook* ``b`` between two consecutive
snapshots that both have the two when ``a`` was behind ``b`` (by seed mean) and is ahead now. Let
``D = mean_a - mean_b`` (signed so that positive is better) in each snapshot and
``se(D)^2 = sd_a^2 / n_a + sd_b^2 / n_b`` from the seeds (ddof 1). The move is **beyond noise** when
the change of the lead exceeds its noise::

    (D_new - D_old) > Z * sqrt(se(D_new)^2 + se(D_old)^2),   Z = 1.96

(a two-sided 95% z-test on the change of the difference, the four seed groups independent). A move
with a single seed on any side has no spread to judge it by: ``beyond_noise`` is None ("unknown").
So "mcc overtook cdan on A -> W on 12-03, beyond noise" means the standing changed by more than the
seeds explain; a within-noise move is a wobble that more seeds would likely undo.

Example::

    >>> moves = rank_moves(rows, "target_acc", higher_is_better=True)   # rows: status-ok rows
    >>> moves[moves.beyond_noise == True][["snapshot", "method", "overtook", "pair"]]
"""
from __future__ import annotations

import math
from itertools import permutations

import pandas as pd

from bench.analysis.report.data import snapshot_order

Z = 1.96
GROUP = ["backbone", "label_budget", "pair"]
COLUMNS = ["snapshot", "previous", "backbone", "label_budget", "pair", "method", "overtook",
           "lead_before", "lead_now", "noise", "beyond_noise"]
RULE = (f"beyond noise: the change of the lead exceeds {Z} x its standard error from the seeds of "
        "both snapshots (a 95% z-test on the change of the difference); unknown with one seed")


def _summary(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """method -> mean, squared standard error of the mean (NaN with one seed)."""
    g = rows.groupby("method")[metric]
    out = pd.DataFrame({"mean": g.mean(), "n": g.count(), "var": g.var(ddof=1)})
    out["se2"] = out["var"] / out["n"]
    return out


def rank_moves(ok: pd.DataFrame, metric: str = "target_acc", higher_is_better: bool = True) -> pd.DataFrame:
    """Every overtaking between consecutive snapshots of each (backbone, budget, pair); ``ok``: rows
    with status ok and columns snapshot, snapshot_time, snapshot_index, GROUP, method, ``metric``."""
    ok = ok[ok[metric].notna()]
    if ok.empty:
        return pd.DataFrame(columns=COLUMNS)
    order = snapshot_order(ok)
    sign = 1.0 if higher_is_better else -1.0
    rows = []
    for group, part in ok.groupby(GROUP, sort=True):
        have = [s for s in order if s in set(part["snapshot"])]
        summaries = {s: _summary(part[part["snapshot"] == s], metric) for s in have}
        for old, new in zip(have, have[1:]):
            before, now = summaries[old], summaries[new]
            common = sorted(set(before.index) & set(now.index))
            for a, b in permutations(common, 2):
                d_old = sign * (before.at[a, "mean"] - before.at[b, "mean"])
                d_new = sign * (now.at[a, "mean"] - now.at[b, "mean"])
                if not (d_old < 0 < d_new):
                    continue
                var = sum(t.at[m, "se2"] for t in (before, now) for m in (a, b))
                noise = Z * math.sqrt(var) if math.isfinite(var) else math.nan
                beyond = None if math.isnan(noise) else bool(d_new - d_old > noise)
                rows.append(dict(zip(COLUMNS, (new, old, *group, a, b, d_old, d_new, noise, beyond))))
    return pd.DataFrame(rows, columns=COLUMNS)


def describe(move: pd.Series) -> str:
    """One sentence: 'a overtook b on pair (backbone, budget) in snapshot, beyond noise (...)'."""
    verdict = {True: "beyond noise", False: "within noise", None: "noise unknown (one seed)"}[
        None if pd.isna(move["beyond_noise"]) else bool(move["beyond_noise"])]
    return (f"{move['method']} overtook {move['overtook']} on {move['pair']} ({move['backbone']}, "
            f"budget {move['label_budget']}) in {move['snapshot']}, {verdict} (lead {move['lead_before']:+.2f} "
            f"-> {move['lead_now']:+.2f}, noise {move['noise']:.2f})")
