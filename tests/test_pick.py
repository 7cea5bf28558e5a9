"""The one pick of model selection (bench/results/pick.py), which in-run selection
(bench/cell/selection.py) and report-time ``select`` both call: the highest score, ties to the
candidate listed first, NaN never, no pick where every score is NaN. Closed cases, then the two
callers held to it."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.analysis.report.select import select
from bench.results.pick import best_position, best_positions
from tests.report_rows import row

NAN = math.nan


def test_the_highest_score_wins():
    assert best_position([0.1, 0.7, 0.3]) == 1
    assert best_position([-5.0]) == 0
    assert best_position([-math.inf, -1.0]) == 1


def test_a_tie_goes_to_the_candidate_listed_first():
    assert best_position([0.2, 0.9, 0.9, 0.9]) == 1
    assert best_position([1.0, 1.0]) == 0
    assert best_position([0.0, -0.0]) == 0  # equal scores, whatever their sign bit


def test_a_nan_score_is_never_picked():
    assert best_position([NAN, 0.1, NAN]) == 1
    assert best_position([NAN, -math.inf]) == 1  # any number beats no number
    assert best_position([0.5, NAN, 0.5]) == 0


def test_all_nan_or_no_candidate_has_no_pick():
    assert best_position([NAN, NAN]) is None
    assert best_position([]) is None
    assert best_positions([NAN, 1.0, NAN, NAN], groups=[0, 0, 1, 1]).tolist() == [1]  # group 1 left out


def test_groups_are_picked_apart_and_returned_in_group_order():
    scores = [3.0, 9.0, 9.0, 1.0, NAN, 2.0]
    groups = [2, 2, 0, 0, 1, 1]
    assert best_positions(scores, groups).tolist() == [2, 5, 1]


def test_a_streamed_pick_keeps_what_the_pick_over_the_whole_run_keeps():
    """In-run selection sees one score at a time and keeps the weights when the new check is the
    pick so far; over any sequence that ends on the pick of the whole sequence."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        scores = rng.integers(0, 4, rng.integers(1, 12)).astype(float)  # many ties
        scores[rng.random(len(scores)) < 0.3] = NAN
        kept = None
        for n in range(1, len(scores) + 1):
            if best_position(scores[:n]) == n - 1:
                kept = n - 1
        assert kept == best_position(scores)


def test_report_time_select_picks_as_the_one_pick_does():
    """Planted checkpoint tables with ties and NaNs (scores from {0, 1, 2, NaN}): every group's
    selected (trial, step) is the one pick over its (trial, step)-ordered candidates; a group with
    no score at all is a skipped row."""
    rng = np.random.default_rng(1)
    rows, ck = [], []
    for seed in range(40):
        for trial in range(3):
            r = {**row("dann", "a->b", seed, 0.0), "trial": trial, "cell_key": f"c{seed}-{trial}"}
            rows.append(r)
            for step in (10, 20, 30):
                score = float(rng.integers(0, 3)) if rng.random() > 0.3 or seed == 0 else NAN
                ck.append({"cell_key": r["cell_key"], "step": step, "final": step == 30,
                           "target_acc": 100.0 * trial + step, "source_acc": 90.0, "score_snd": score})
    rows, ck = pd.DataFrame(rows), pd.DataFrame(ck)
    ck.loc[ck["cell_key"].str.startswith("c1-"), "score_snd"] = NAN  # seed 1: no pick
    out = select(rows, ck, "snd").set_index("seed")
    for seed in range(40):
        mine = ck[ck["cell_key"].str.startswith(f"c{seed}-")].assign(
            trial=lambda f: f["cell_key"].str.rsplit("-", n=1).str[1].astype(int)).sort_values(["trial", "step"])
        at = best_position(mine["score_snd"].to_numpy())
        if at is None:
            assert out.at[seed, "status"] == "skipped"
            continue
        want = mine.iloc[at]
        assert (out.at[seed, "selected_trial"], out.at[seed, "selected_step"]) == (want["trial"], want["step"])
        assert out.at[seed, "target_acc"] == want["target_acc"]
    assert (out["status"] == "skipped").sum() >= 1
