"""DomainBed's leave-one-domain-out cross-validation (``model_selection.py``,
``LeaveOneOutSelectionMethod``) as a score column on the checkpoint tables, so that the report's one
selection (``bench.analysis.report.select``) ranks by it like any other rule.

For a multi-source cell m (sources S, held-out target t) and a checkpoint step s, the score is::

    score_leave_one_out(m, s) = mean_{v in S} target_acc(cell S \\ {v} -> v, step s)

where each *validation cell* (``lodo_validation: true`` in the suite, ``bench.plan.pairs``) has the
same backbone, strategy, hyper-parameters, trial, label budget and seed as m (and protocol and
snapshot where the rows carry them): a model trained with m's hyper-parameters on all domains but t
and v, scored on v's labelled test split (DomainBed's ``env{v}_in_acc`` of its run with
``test_envs = [t, v]``). A step missing from any validation cell, or a cell missing any of its
validation cells, has no score (NaN: DomainBed returns None), so it is never picked. The selection
then takes, per (backbone, strategy, pair, budget, seed), the (trial, step) with the highest score
(ties: the lower trial, then the earlier step; DomainBed's sort leaves ties to its record order) and
reports m's own ``target_acc`` there.

It is not a validator: no one cell's checkpoints can compute it (it joins k - 1 other cells), so it
is not in ``rules.RULES`` but in ``rules.CROSS_CELL_RULES``; ``select(rows, checkpoints, LODO)``
applies it, for the DomainBed section and for every table of ``bench report --select
leave_one_out``. Results without validation cells are refused (``NO_VALIDATION_CELLS`` says which
suite setting makes them).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.report.rules import LODO
from bench.results.schema import domain_parts

LODO_COLUMN = "score_leave_one_out"
#: why ``--select leave_one_out`` cannot apply to results without validation cells, and what makes them
NO_VALIDATION_CELLS = ("--select leave_one_out needs leave-one-domain-out validation cells, and these results "
                       "have no multi-source cell with all of them finished ok: run the suite with a pairs "
                       "entry {leave_one_out: [d1, d2, d3, ...], lodo_validation: true} and checkpoints: K")
#: what a validation cell shares with the cell it validates (besides the domains)
SAME_RUN = ["backbone", "strategy", "hparams", "trial", "label_budget", "seed"]
OPTIONAL = ["protocol_hash", "snapshot"]


def _domains(rows: pd.DataFrame) -> tuple[list[frozenset], list[str]]:
    return [frozenset(domain_parts(str(s))) for s in rows["source_domain"]], [str(t) for t in rows["target_domain"]]


def _run_keys(rows: pd.DataFrame) -> list[tuple]:
    cols = [c for c in SAME_RUN + OPTIONAL if c in rows.columns]
    return list(zip(*[rows[c].astype(str) for c in cols]))


def validation_cells(rows: pd.DataFrame) -> dict[str, list[str]]:
    """``{cell_key of a multi-source ok cell: the cell_keys of its validation cells, one per source}``,
    only for cells that have every one of them (ok)."""
    ok = rows[rows["status"] == "ok"]
    sources, targets = _domains(ok)
    runs = _run_keys(ok)
    index = {(run, src, tgt): key for run, src, tgt, key in zip(runs, sources, targets, ok["cell_key"])}
    out = {}
    for run, src, key in zip(runs, sources, ok["cell_key"]):
        if len(src) < 2:
            continue
        found = [index.get((run, src - {v}, v)) for v in sorted(src)]
        if all(found):
            out[key] = found
    return out


def with_lodo_scores(rows: pd.DataFrame, checkpoints: pd.DataFrame | None) -> pd.DataFrame | None:
    """``checkpoints`` plus ``score_leave_one_out`` (NaN where it does not apply, see the module)."""
    if checkpoints is None or checkpoints.empty:
        return checkpoints
    join = ["cell_key"] + (["snapshot"] if "snapshot" in rows.columns and "snapshot" in checkpoints.columns else [])
    ck = checkpoints.assign(**{c: checkpoints[c].astype(str) for c in join})
    by = join if len(join) > 1 else "cell_key"  # (a one-element list would give 1-tuples as keys)
    acc = {k: part.set_index("step")["target_acc"] for k, part in ck.groupby(by, sort=False)}
    snaps = rows["snapshot"].astype(str) if len(join) > 1 else pd.Series([""] * len(rows), index=rows.index)
    scores = []
    for snap, part in rows.groupby(snaps, sort=False):
        def key(cell: str, snap: str = snap):
            return (cell, snap) if len(join) > 1 else cell

        for main, helpers in validation_cells(part).items():
            series = [acc.get(key(h)) for h in helpers]
            if key(main) in acc and all(s is not None for s in series):
                score = pd.concat(series, axis=1).mean(axis=1, skipna=False)  # a step missing anywhere: NaN
                scores.append(pd.DataFrame({"cell_key": main, "snapshot": snap, "step": score.index,
                                            LODO_COLUMN: score.to_numpy(float)}))
    if not scores:
        return checkpoints.assign(**{LODO_COLUMN: np.nan})
    table = pd.concat(scores, ignore_index=True)[join + ["step", LODO_COLUMN]]
    found = ck[join + ["step"]].merge(table, on=join + ["step"], how="left")
    return checkpoints.assign(**{LODO_COLUMN: found[LODO_COLUMN].to_numpy(float)})


def validation_only(rows: pd.DataFrame) -> pd.Series:
    """True for the rows of validation cells: a cell whose domains are those of another row's
    leave-one-out set minus one (shown only as the rule's inputs, not as DomainBed tables)."""
    sources, targets = _domains(rows)
    sets = [s | {t} for s, t in zip(sources, targets)]
    mains = {d for d, s in zip(sets, sources) if len(s) >= 2}
    return pd.Series([any(len(m) == len(d) + 1 and d < m for m in mains) for d in sets], index=rows.index)


def tables_rows(selected: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The selected rows a report's tables show: under ``leave_one_out`` the validation cells are
    the rule's inputs, with no score of their own, so they get no table column (the status section
    still counts them); under every other rule, all rows."""
    return selected[~validation_only(selected)] if rule == LODO and not selected.empty else selected
