"""What in-run selection kept: per method and pair, its rule, its checks and the step it kept.

A suite's ``selection: RULE`` applies the rule while the cell runs (``bench.cell.selection``; the
GPU suites do, to measure the kept weights themselves) and stores what it saw beside the
checkpoint tables, in ``_selection/<cell_key>.parquet``: one row per check, with the rule's score
and which check it kept (``bench.results.read_selection_tables``). The row's numbers are already
those of the kept weights; this section says how the rule got there:

- ``kept final``: in how many of the cells the rule kept the final weights (no earlier check beat them);
- ``kept step``: the median step it kept, of the adaptation's steps;
- ``score gain``: the rule's score at the kept check minus at the final weights, mean over cells.
  It is >= 0 by construction (the kept check has the highest score, ties to the earlier one), so it
  says how far the rule's own view of the model moved, not whether accuracy rose.

Torch-free; reads rows as ``bench.analysis.report.data.load`` gives them.
"""
from __future__ import annotations

import pandas as pd

KEYS = ["snapshot", "cell_key"]
TITLE = "In-run selection: what the rule kept"
NOTE = ("Cells whose suite selects during the run (`selection: RULE`): the row measures the kept "
        "weights. `checks`: the rule's checks per cell; `kept final`: cells where it kept the final "
        "weights; `kept step`: median kept step of the steps; `score gain`: the rule's score at the "
        "kept check minus at the final weights, mean over cells (>= 0 by construction: it shows how "
        "far the rule's own score moved, not whether accuracy rose).")


def in_run_frame(rows: pd.DataFrame, tables: pd.DataFrame | None) -> pd.DataFrame:
    """``tables``: ``read_selection_tables`` with the snapshot labels of ``rows``. One line per (backbone, method, pair, label budget, rule) of the ok rows that selected in the
    run and have a selection table: cells, checks, kept final, kept step, score gain."""
    if tables is None or rows.empty or "selection_step" not in rows:
        return pd.DataFrame()
    ok = rows[(rows["status"] == "ok") & rows["selection_step"].notna()
              & ~rows["selection_rule"].isin(["", "last"])]
    per_cell = [_cell_summary(g, rule) for rule, g in _tables_by_rule(ok, tables)]
    if not per_cell:
        return pd.DataFrame()
    cells = ok.merge(pd.concat(per_cell), on=KEYS)
    group = ["backbone", "method", "pair", "label_budget", "selection_rule"]
    out = cells.groupby(group, sort=True).agg(
        cells=("cell_key", "size"), checks=("checks", "mean"), kept_final=("kept_final", "sum"),
        kept_step=("kept_step", "median"), steps=("steps", "max"), score_gain=("score_gain", "mean"))
    return out.reset_index()


def _tables_by_rule(ok: pd.DataFrame, tables: pd.DataFrame):
    """(rule, that rule's checks of the cells that ran under it)."""
    for rule, cells in ok.groupby("selection_rule"):
        part = tables.merge(cells[KEYS], on=KEYS)
        if len(part) and f"score_{rule}" in part:
            yield rule, part


def _cell_summary(checks: pd.DataFrame, rule: str) -> pd.DataFrame:
    score = f"score_{rule}"

    def one(g: pd.DataFrame) -> pd.Series:
        kept = g[g["kept"].astype(bool)]
        final = g[g["final"].astype(bool)]
        kept_score = kept[score].iloc[0] if len(kept) else float("nan")
        final_score = final[score].iloc[-1] if len(final) else float("nan")
        return pd.Series({"checks": len(g), "kept_final": bool(len(kept) and kept["final"].iloc[0]),
                          "kept_step": kept["step"].iloc[0] if len(kept) else float("nan"),
                          "score_gain": kept_score - final_score})

    return checks.groupby(KEYS).apply(one, include_groups=False).reset_index()


def in_run_selection_blocks(rows: pd.DataFrame, tables: pd.DataFrame | None) -> list[tuple]:
    """Report blocks (``bench.analysis.report.render``); empty when no cell selected in the run."""
    frame = in_run_frame(rows, tables)
    if frame.empty:
        return []
    text = pd.DataFrame({
        "backbone": frame["backbone"], "method": frame["method"], "pair": frame["pair"],
        "budget": frame["label_budget"], "rule": frame["selection_rule"], "cells": frame["cells"],
        "checks": frame["checks"].map(lambda v: f"{v:.0f}"),
        "kept final": [f"{k} of {n}" for k, n in zip(frame["kept_final"], frame["cells"])],
        "kept step": [f"{s:.0f} of {t:.0f}" for s, t in zip(frame["kept_step"], frame["steps"])],
        "score gain": frame["score_gain"].map(lambda v: f"{v:.3g}"),
    }).set_index(["backbone", "method"])
    bold = pd.DataFrame(False, index=text.index, columns=text.columns)
    return [("h2", TITLE), ("p", NOTE), ("table", text, bold)]
