"""The one pick of model selection: which candidate a rule keeps, given each candidate's score.

Every rule picks the same way, in the run (``bench.cell.selection``: the weights a suite's
``selection:`` rule keeps) and at report time (``bench.analysis.report.select``: the (trial,
checkpoint) of a group that ``--select RULE`` keeps): the highest score, ties to the candidate
listed first (the lower trial, then the earlier step), a NaN score never; a group whose every score
is NaN has no pick. Both call :func:`best_positions`, so they cannot drift apart
(tests/test_pick.py holds the closed cases).

On the ground floor (numpy only): the cell wing and the analysis wing both read it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def best_positions(scores: Sequence[float] | np.ndarray, groups: Sequence | np.ndarray | None = None) -> np.ndarray:
    """The position of each group's pick among ``scores``, listed in order of preference (on a tie
    the earlier position wins), ordered by group; a group whose scores are all NaN is left out.
    Without ``groups`` every candidate is in one group (at most one position comes back)."""
    scores = np.asarray(scores, dtype=float)
    groups = np.zeros(len(scores), dtype=int) if groups is None else np.asarray(groups)
    if len(groups) != len(scores):
        raise ValueError(f"{len(scores)} scores but {len(groups)} group labels")
    position = np.flatnonzero(~np.isnan(scores))  # a NaN score is never picked
    # lexsort's last key is its first: by group, then the highest score, then the earliest position
    order = position[np.lexsort((position, -scores[position], groups[position]))]
    first_of_group = np.r_[True, groups[order][1:] != groups[order][:-1]] if len(order) else np.zeros(0, bool)
    return order[first_of_group]


def best_position(scores: Sequence[float] | np.ndarray) -> int | None:
    """The pick among one group's ``scores`` (see :func:`best_positions`), or None if all are NaN."""
    picked = best_positions(scores)
    return int(picked[0]) if len(picked) else None
