"""Where the leaderboard meets model selection (issue 11): rules, report-time selection, aggregates.

The leaderboard implements none of these itself. It calls ``bench.analysis.report.rules``,
``bench.analysis.report.select.select`` and ``bench.analysis.report.aggregate`` when they exist; without them it falls
back to what ``bench report`` already does: rule ``last`` (the rows as they are, trial 0) and, across
pairs, the plain mean of the per-pair seed means with a bootstrap interval over pairs.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.analysis.report.stats import bootstrap_mean
from bench.analysis.report.tables import MetricTable

try:
    from bench.analysis.report.rules import RULES, score_column
except ImportError:  # before issue 11 lands: only the rule every result supports
    RULES = {"last": "trial 0 (the strategy's defaults), final weights: no selection"}

    def score_column(rule: str) -> str:
        raise ValueError(f"selection rule {rule!r} needs bench.analysis.report.rules (not installed)")

try:
    from bench.analysis.report.select import select as _select
except ImportError:
    _select = None

try:
    from bench.analysis.report import aggregate as _aggregate
except ImportError:
    _aggregate = None

try:
    from bench.analysis.report.data import label_methods
except ImportError:
    label_methods = None

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
    """One row per seed of each cell under ``rule``. Rows and checkpoints both carry ``snapshot``
    (a cell's key is the same in every nightly snapshot), which selection groups on."""
    if _select is None:
        if rule != "last":
            raise ValueError(f"selection rule {rule!r} needs bench.analysis.report.select (issue 11)")
        out = rows[rows["trial"].fillna(0).astype(int) == 0].copy()
        out["selected_trial"] = 0
        out["selected_step"] = out["steps"]
        return out
    if checkpoints is not None and rule != "last":
        checkpoints = checkpoints[checkpoints["snapshot"].isin(set(rows["snapshot"]))]
    return _select(rows, checkpoints if checkpoints is not None and len(checkpoints) else None, rule)


def relabel(rows: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Method names as ``bench report`` gives them under ``rule`` (after a search has picked
    hyper-parameters per seed, a method is its strategy, not one label per trial)."""
    return label_methods(rows, by_hparams=rule == "last") if label_methods is not None else rows


def aggregate(part: pd.DataFrame, table: MetricTable) -> dict[str, dict]:
    """Per method of ``table``: the aggregate across pairs with a CI, and where
    ``bench.analysis.report.aggregate`` exists, the average rank's CI and P(improvement over source_only).

    With it: IQM of all runs pooled over the pairs every method has, stratified-bootstrap CIs.
    Fallback: the report's ``Avg`` (mean of per-pair seed means over the complete pairs) with a
    percentile-bootstrap CI over those pairs."""
    out = {}
    if _aggregate is not None:
        ok = part[(part["status"] == "ok") & part["method"].isin(table.methods)]
        frame = _aggregate.aggregate(ok, "target_acc") if len(ok) else None
        rows = {} if frame is None else {r["method"]: r for r in frame.to_dict("records")}
        for m in table.methods:
            r = rows.get(m, {})
            out[m] = {"agg": r.get("iqm"), "lo": r.get("iqm_lo"), "hi": r.get("iqm_hi"),
                      "rank_lo": r.get("rank_lo"), "rank_hi": r.get("rank_hi"),
                      "p_improve": r.get("p_improve")}
        return out
    for m in table.methods:
        per_pair = [table.est[(m, p)].mean for p in table.complete_pairs if (m, p) in table.est]
        e = bootstrap_mean(per_pair) if m in table.avg else None
        out[m] = {"agg": e.mean if e else None, "lo": e.lo if e else None, "hi": e.hi if e else None}
    return out
