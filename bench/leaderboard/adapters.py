"""Where the leaderboard meets model selection (issue 11): rules, report-time selection, aggregates.

The leaderboard implements none of these itself. It calls ``bench.report.rules``,
``bench.report.select.select`` and ``bench.report.aggregate`` when they exist; without them it falls
back to what ``bench report`` already does: rule ``last`` (the rows as they are, trial 0) and, across
pairs, the plain mean of the per-pair seed means with a bootstrap interval over pairs.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report.stats import bootstrap_mean
from bench.report.tables import MetricTable

try:
    from bench.report.rules import RULES, score_column
except ImportError:  # before issue 11 lands: only the rule every result supports
    RULES = {"last": "trial 0 (the strategy's defaults), final weights: no selection"}

    def score_column(rule: str) -> str:
        raise ValueError(f"selection rule {rule!r} needs bench.report.rules (not installed)")

try:
    from bench.report.select import select as _select
except ImportError:
    _select = None

try:
    from bench.report import aggregate as _aggregate
except ImportError:
    _aggregate = None

#: what the overall ranking's aggregate is, for the page's headings
AGGREGATE_KIND = "mean" if _aggregate is None else "IQM"


def read_checkpoints(results: list) -> pd.DataFrame | None:
    """Every ``<results>/_checkpoints/*.parquet``, tagged with its snapshot (results directory);
    None when no directory has any."""
    frames = []
    for d in results:
        folder = Path(d, "_checkpoints")
        if any(folder.glob("*.parquet")):
            frame = pd.read_parquet(folder)  # the folder as one dataset: one read, not one per file
            frame["snapshot"] = str(d)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


def available_rules(checkpoints: pd.DataFrame | None) -> list[str]:
    """``last`` always; another rule when the checkpoints hold a score for it somewhere."""
    rules = ["last"]
    if checkpoints is None or _select is None:
        return rules
    for rule in RULES:
        if rule == "last":
            continue
        col = score_column(rule)
        if col in checkpoints and checkpoints[col].notna().any():
            rules.append(rule)
    return rules


def select(rows: pd.DataFrame, checkpoints: pd.DataFrame | None, rule: str) -> pd.DataFrame:
    """One row per seed of each cell under ``rule``, snapshot by snapshot (a cell's key is the same
    in every nightly snapshot, so checkpoints are matched within their own snapshot)."""
    if _select is None:
        if rule != "last":
            raise ValueError(f"selection rule {rule!r} needs bench.report.select (issue 11)")
        out = rows[rows["trial"].fillna(0).astype(int) == 0].copy()
        out["selected_trial"] = 0
        out["selected_step"] = out["steps"]
        return out
    parts = []
    for snap, part in rows.groupby("snapshot", sort=False):
        ckpt = None if checkpoints is None else checkpoints[checkpoints["snapshot"] == snap]
        chosen = _select(part, ckpt if ckpt is not None and len(ckpt) else None, rule)
        parts.append(chosen)
    return pd.concat(parts, ignore_index=True) if parts else rows.iloc[:0]


def aggregate(part: pd.DataFrame, table: MetricTable) -> dict[str, dict]:
    """Per method of ``table``: the aggregate across pairs with a CI, average rank (and its CI and
    the probability of improving on source_only where ``bench.report.aggregate`` gives them).

    Fallback: the report's ``Avg`` (mean of per-pair seed means over the complete pairs) with a
    percentile-bootstrap CI over those pairs, and the report's average rank."""
    out = {}
    for m in table.methods:
        per_pair = [table.est[(m, p)].mean for p in table.complete_pairs if (m, p) in table.est]
        e = bootstrap_mean(per_pair) if m in table.avg else None
        out[m] = {"agg": e.mean if e else None, "lo": e.lo if e else None, "hi": e.hi if e else None}
    return out
