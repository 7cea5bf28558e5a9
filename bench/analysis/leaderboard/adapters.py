"""Where the leaderboard meets model selection: rules, report-time selection, aggregates.

The leaderboard implements none of these itself: it calls ``bench.analysis.report.rules``,
``bench.analysis.report.select`` and ``bench.analysis.report.aggregate``, the same code ``bench report``
runs, so a rule or an aggregate means the same on the page as in the report.
"""
from __future__ import annotations

import pandas as pd

from bench.analysis.report import aggregate as _aggregate
from bench.analysis.report.data import label_methods
from bench.analysis.report.rules import RULES, score_column
from bench.analysis.report.select import read_checkpoints as _read_checkpoints
from bench.analysis.report.select import select as _select
from bench.analysis.report.tables import MetricTable

#: what the overall ranking's aggregate is, for the page's headings
AGGREGATE_KIND = "IQM"


def read_checkpoints(results: list) -> pd.DataFrame | None:
    """The report's checkpoint reader, each table tagged with its snapshot (results directory
    as given); None when no directory has any."""
    return _read_checkpoints(results, [str(d) for d in results])


def available_rules(checkpoints: pd.DataFrame | None) -> list[str]:
    """``last`` always; another rule when the checkpoints hold a score for it somewhere."""
    rules = ["last"]
    if checkpoints is None:
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
    if checkpoints is not None and rule != "last":
        checkpoints = checkpoints[checkpoints["snapshot"].isin(set(rows["snapshot"]))]
    return _select(rows, checkpoints if checkpoints is not None and len(checkpoints) else None, rule)


def relabel(rows: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Method names as ``bench report`` gives them under ``rule`` (after a search has picked
    hyper-parameters per seed, a method is its strategy, not one label per trial)."""
    return label_methods(rows, by_hparams=rule == "last")


def aggregate(part: pd.DataFrame, table: MetricTable) -> dict[str, dict]:
    """Per method of ``table``: the IQM of all its ok runs pooled over the pairs every method has,
    with stratified-bootstrap CIs, the average rank's CI and P(improvement over source_only)
    (``bench.analysis.report.aggregate``)."""
    out = {}
    ok = part[(part["status"] == "ok") & part["method"].isin(table.methods)]
    frame = _aggregate.aggregate(ok, "target_acc") if len(ok) else None
    rows = {} if frame is None else {r["method"]: r for r in frame.to_dict("records")}
    for m in table.methods:
        r = rows.get(m, {})
        out[m] = {"agg": r.get("iqm"), "lo": r.get("iqm_lo"), "hi": r.get("iqm_hi"),
                  "rank_lo": r.get("rank_lo"), "rank_hi": r.get("rank_hi"),
                  "p_improve": r.get("p_improve")}
    return out
