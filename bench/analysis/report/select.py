"""Report-time model selection: which trial and checkpoint of each run counts as its result.

As in DomainBed's collect step (Gulrajani & Lopez-Paz, 2021, "In search of lost domain
generalization"), selection happens when the report is built, not when the suite runs: a run stores
every checkpoint's validator scores (``<results>/_checkpoints/<cell_key>.parquet``, see
``bench.analysis.report.rules``), and a *rule* picks, for each

    (backbone, strategy, pair, label budget, seed[, protocol_hash][, snapshot])

the (trial, checkpoint) with the highest ``score_<rule>`` among that group's ``ok`` cells. Changing
the rule reruns nothing. Formally, with C the group's candidates (every trial t, every checkpoint s)::

    (t*, s*) = argmax_{(t, s) in C, score_rule(t, s) is not NaN} score_rule(t, s)

ties broken towards the lower trial, then the earlier step (deterministic). The selected row then
carries that checkpoint's ``target_acc`` and ``source_acc_after``, and ``forgetting`` /
``target_gain`` recomputed from them (``source_acc_before - source_acc_after`` and
``target_acc - target_acc_before``; the "before" values are the source model's, shared by every
trial of a seed).

Rule ``last`` is "no selection": trial 0's row exactly as recorded (the strategy's defaults, final
weights, or whatever in-run selection the row says it used). It needs no checkpoint table, so old
results directories give exactly the numbers they always gave. Every other rule needs checkpoints.

``oracle`` maximises target-*test* accuracy: it uses labels no strategy may see and exists only to
measure how far the honest rules fall short (the regret table). It is applied only when asked for by
name, and its rows say ``selection_rule = "oracle"`` (the report labels them in every table).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.report.lodo import LODO, LODO_COLUMN, with_lodo_scores
from bench.analysis.report.rules import RULES, score_column
from bench.results import ResultsDir, read_checkpoints
from bench.results.pick import best_positions

#: what one selected result is: selection runs over trials and checkpoints within each group
SELECTION_GROUP = ["backbone", "strategy", "source_domain", "target_domain", "label_budget", "seed"]
#: grouped on as well when present: never pool results measured under different protocols
#: (issue 10's ``protocol_hash``) or from different snapshots (report directories)
OPTIONAL_GROUP = ["protocol_hash", "snapshot"]
CHECKPOINT_DIR = ResultsDir.CHECKPOINTS
#: ``read_checkpoints`` lives with the other readers (``bench.results``); importable from here too
__all__ = ["CHECKPOINT_DIR", "SELECTION_GROUP", "SelectionError", "describe", "group_columns",
           "read_checkpoints", "select"]


class SelectionError(ValueError):
    """A rule that cannot be applied to these results (the message says what to do)."""


def group_columns(rows: pd.DataFrame) -> list[str]:
    """The columns one selected result is unique over, for this frame."""
    return SELECTION_GROUP + [c for c in OPTIONAL_GROUP if c in rows.columns]


def _with_defaults(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    if "trial" not in rows.columns:  # results written before search existed: every cell is trial 0
        rows["trial"] = 0
    rows["trial"] = pd.to_numeric(rows["trial"], errors="coerce").fillna(0).astype(int)
    for col in OPTIONAL_GROUP:
        if col in rows.columns:
            rows[col] = rows[col].fillna("").astype(str)
    if "selection_rule" in rows.columns:
        rows["selection_rule"] = rows["selection_rule"].fillna("last")
    return rows


def select(rows: pd.DataFrame, checkpoints: pd.DataFrame | None, rule: str) -> pd.DataFrame:
    """One row per selection group (see ``group_columns``), chosen by ``rule``.

    ``rows``: results rows (``bench.results.read_results`` or ``bench.analysis.report.data.load``).
    ``checkpoints``: the checkpoint tables (``read_checkpoints``), or None.
    Returns the chosen rows with ``target_acc``, ``source_acc_after``, ``forgetting`` and
    ``target_gain`` taken from the chosen checkpoint, plus ``selected_trial``, ``selected_step``
    (NaN when the row's own final values were used) and ``selection_rule`` (= ``rule``).

    - ``last``: trial 0's rows as recorded, one per cell (hyper-parameter variants of a strategy
      listed apart in the suite stay apart, as in every report before selection existed).
    - any other rule: among the group's ok cells with a checkpoint table, the (trial, checkpoint)
      with the highest score. A group whose checkpoints all lack this rule's score (e.g.
      ``target_val`` at budget 0) becomes one ``skipped`` row saying so. A group none of whose cells
      finished ok keeps trial 0's row, so the report still shows why. An ok cell without checkpoints
      in a group without any (a strategy with no adaptation steps, e.g. ``source_only``) keeps its
      final values and says ``selected_step = NaN``.
    """
    if rule not in RULES and rule != LODO:
        raise SelectionError(f"unknown selection rule {rule!r}; choose one of: {', '.join(RULES)}")
    if rows.empty:
        return rows.assign(selected_trial=pd.Series(dtype=int), selected_step=pd.Series(dtype=float))
    rows = _with_defaults(rows)
    if rule == "last":
        out = rows[rows["trial"] == 0].copy()
        out["selected_trial"], out["selected_step"] = 0, np.nan
        return out.reset_index(drop=True)
    if rule == LODO and (checkpoints is None or LODO_COLUMN not in checkpoints.columns):
        checkpoints = with_lodo_scores(rows, checkpoints)  # joins each cell's validation cells (lodo.py)
    column = _score_column(checkpoints, rule)
    join = ["cell_key"] + (["snapshot"] if "snapshot" in rows.columns and "snapshot" in checkpoints.columns else [])
    rows = rows.reset_index(drop=True)
    rows["_group"] = rows.groupby(group_columns(rows), sort=True, dropna=False).ngroup()
    rows["_row"] = rows.index
    ck = checkpoints[join + ["step"]].assign(_ck_target=checkpoints["target_acc"],
                                             _ck_source=checkpoints["source_acc"],
                                             _score=checkpoints[column])
    ok = rows[rows["status"] == "ok"]
    cand = ok[join + ["_group", "_row", "trial"]].merge(ck, on=join, how="inner")
    picked, best_groups = _picked(rows, cand, rule)
    rest = rows[~rows["_group"].isin(best_groups)].sort_values(["_group", "trial"], kind="stable")
    out = pd.concat([picked, _unpicked(rest, set(cand["_group"]), rule)]).sort_values("_group", kind="stable")
    out["selected_trial"] = out["selected_trial"].astype(int)
    return out.drop(columns=["_group", "_row"]).reset_index(drop=True)


def _score_column(checkpoints: pd.DataFrame | None, rule: str) -> str:
    """The checkpoint column ``rule`` maximises, after checking that these checkpoints have it."""
    if checkpoints is None or checkpoints.empty:
        raise SelectionError(f"rule {rule!r} needs checkpoint tables (<results>/{CHECKPOINT_DIR}/) and "
                             "these results have none: they were run without checkpoints. Use "
                             "--select last, or rerun the suite with checkpoints to select by a rule.")
    column = LODO_COLUMN if rule == LODO else score_column(rule)
    if column not in checkpoints.columns:
        raise SelectionError(f"the checkpoint tables have no column {column!r} for rule {rule!r}; "
                             f"columns present: {', '.join(c for c in checkpoints.columns if c.startswith('score_'))}")
    return column


def _picked(rows: pd.DataFrame, cand: pd.DataFrame, rule: str) -> tuple[pd.DataFrame, pd.Series]:
    """Each group's best-scored (trial, checkpoint) as its row, with that checkpoint's accuracies."""
    # the one pick of every rule (bench.results.pick): listed by (trial, step), a tie goes to the
    # lower trial, then the earlier step; a NaN score is never picked
    listed = cand.sort_values(["_group", "trial", "step"], kind="stable")
    best = listed.iloc[best_positions(listed["_score"].to_numpy(float), listed["_group"].to_numpy())]
    picked = rows.loc[best["_row"].to_numpy()].copy()
    picked["target_acc"] = best["_ck_target"].to_numpy()
    picked["source_acc_after"] = best["_ck_source"].to_numpy()
    picked["forgetting"] = picked["source_acc_before"] - picked["source_acc_after"]
    picked["target_gain"] = picked["target_acc"] - picked["target_acc_before"]
    picked["selected_trial"], picked["selected_step"] = best["trial"].to_numpy(), best["step"].to_numpy(float)
    picked["selection_rule"] = rule
    return picked, best["_group"]


def _unpicked(rest: pd.DataFrame, with_checkpoints: set, rule: str) -> pd.DataFrame:
    """One row for each group no checkpoint was picked in, saying why (see ``select``)."""
    ok_rest = rest[rest["status"] == "ok"]
    # ok cells with checkpoints, none scored by this rule: the rule does not apply to this group
    no_score = with_checkpoints & set(rest["_group"])
    skipped = rest[rest["_group"].isin(no_score)].drop_duplicates("_group").copy()
    skipped["status"] = "skipped"
    skipped["error"] = (f"rule {rule!r} does not apply here: no checkpoint has a {rule} score "
                        + ("(it needs the cell's validation cells: lodo_validation: true)" if rule == LODO
                           else "(e.g. target_val needs a label budget above 0)"))
    skipped["selection_rule"] = rule
    # ok cells without any checkpoint (no adaptation steps, e.g. source_only): their final values
    final = ok_rest[~ok_rest["_group"].isin(no_score)].drop_duplicates("_group")
    # nothing finished ok: trial 0's row, so the report still shows why
    failed = rest[~rest["_group"].isin(set(ok_rest["_group"]) | no_score)].drop_duplicates("_group").copy()
    failed["selection_rule"] = rule
    unpicked = pd.concat([skipped, final, failed])
    unpicked["selected_trial"], unpicked["selected_step"] = unpicked["trial"], np.nan
    return unpicked


def describe(rule: str) -> str:
    """``source_val: highest accuracy on labelled source-val``, for notes."""
    return f"{rule}: {RULES[rule]}" if rule in RULES else rule


def picked_row(results_dir: str | Path, rule: str, cell_key: str | None = None,
               **filters: str) -> pd.Series:
    """The one stored result that ``rule`` picks, for ``bench reproduce``: the group of
    ``cell_key`` (any trial of it), or the one group matching ``filters`` (column -> value among
    backbone, strategy, pair, label_budget, seed). The row carries ``cell_key`` (of the selected
    trial), ``selected_step`` (NaN: the final weights) and the selected ``target_acc``."""
    from bench.results import read_results

    rows = read_results(results_dir)
    rows["pair"] = rows["source_domain"] + "->" + rows["target_domain"]
    if cell_key is not None:
        mine = rows[rows["cell_key"] == cell_key]
        if mine.empty:
            raise SelectionError(f"no result of cell {cell_key} in {results_dir}")
        if rule == "last":  # that very cell, whichever trial it is, as recorded
            row = _with_defaults(mine).iloc[0].copy()
            row["selected_trial"], row["selected_step"] = row["trial"], np.nan
            return row
        filters = {c: str(mine.iloc[0][c]) for c in group_columns(rows) if c in mine.columns}
    chosen = select(rows, read_checkpoints([results_dir]), rule)
    for column, value in filters.items():
        chosen = chosen[chosen[column].astype(str) == str(value)]
    if len(chosen) != 1:
        listed = "; ".join(sorted(f"{r.backbone} {r.strategy} {r.pair} budget={r.label_budget} seed={r.seed}"
                                  for r in chosen.itertuples())[:5])
        raise SelectionError(f"{len(chosen)} results match {filters or 'no filter'} under --select {rule}"
                             + (f" (e.g. {listed})" if listed else "")
                             + "; name one cell key, or narrow it with --where COLUMN=VALUE (backbone, strategy, pair, "
                             "label_budget, seed)")
    return chosen.iloc[0]
