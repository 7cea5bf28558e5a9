"""Aggregates across pairs (IQM, probability of improvement, average rank) against closed forms."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from bench.analysis.report.aggregate import aggregate, iqm, probability_of_improvement

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels


def frame(scores: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """``{method: {pair: [run scores]}}`` -> one row per run."""
    return pd.DataFrame([{"method": m, "pair": p, "seed": i, "target_acc": v}
                         for m, pairs in scores.items() for p, vals in pairs.items()
                         for i, v in enumerate(vals)])


def test_iqm_closed_forms():
    assert iqm(range(1, 9)) == pytest.approx(4.5)                 # mean of 3, 4, 5, 6
    assert iqm([1, 2, 3, 4, 1000, -1000, 2, 3]) == pytest.approx(2.5)   # outliers cut
    assert iqm([7.0, 7.0, 7.0]) == 7.0
    assert np.isnan(iqm([np.nan]))


def test_probability_of_improvement_closed_forms():
    lo, hi = [np.array([1.0, 2.0, 3.0])], [np.array([10.0, 11.0, 12.0])]
    assert probability_of_improvement(hi, lo) == 1.0
    assert probability_of_improvement(lo, hi) == 0.0
    assert probability_of_improvement(lo, lo) == 0.5              # ties count one half


def test_probability_of_improvement_is_the_mann_whitney_statistic_averaged_over_tasks():
    rng = np.random.default_rng(0)
    x = [rng.normal(1, 1, 5), rng.normal(0, 1, 4)]
    y = [rng.normal(0, 1, 5), rng.normal(0, 1, 6)]
    want = np.mean([mannwhitneyu(a, b).statistic / (len(a) * len(b)) for a, b in zip(x, y)])
    assert probability_of_improvement(x, y) == pytest.approx(want)


def test_clearly_separated_methods():
    pairs = ["a->b", "b->a", "c->d"]
    df = frame({"source_only": {p: [50.0, 51.0, 52.0] for p in pairs},
                "dann": {p: [70.0, 71.0, 72.0] for p in pairs},
                "mmd": {p: [60.0, 61.0, 62.0] for p in pairs}})
    t = aggregate(df, reps=2000).set_index("method")
    assert t.at["dann", "p_improve"] == 1.0 and (t.at["dann", "p_lo"], t.at["dann", "p_hi"]) == (1.0, 1.0)
    assert t.at["mmd", "p_improve"] == 1.0
    assert np.isnan(t.at["source_only", "p_improve"])              # no improvement over itself
    assert t["avg_rank"].to_dict() == {"dann": 1.0, "mmd": 2.0, "source_only": 3.0}
    for m, r in t["avg_rank"].items():                             # separation survives resampling
        assert t.at[m, "rank_lo"] == t.at[m, "rank_hi"] == r
    assert t.at["dann", "iqm"] == pytest.approx(71.0)
    assert t.at["dann", "iqm_lo"] <= 71.0 <= t.at["dann", "iqm_hi"]
    assert 70.0 <= t.at["dann", "iqm_lo"] and t.at["dann", "iqm_hi"] <= 72.0
    assert (t["tasks"] == 3).all() and (t["runs"] == 9).all()


def test_lower_is_better_flips_ranks_and_improvement():
    df = frame({"source_only": {"a->b": [5.0, 6.0]}, "l2sp": {"a->b": [1.0, 2.0]}})
    t = aggregate(df, higher_is_better=False, reps=500).set_index("method")
    assert t.at["l2sp", "avg_rank"] == 1.0 and t.at["l2sp", "p_improve"] == 1.0


def test_only_pairs_every_method_has_are_used_and_ci_is_reproducible():
    rng = np.random.default_rng(1)
    df = frame({"source_only": {"a->b": list(rng.normal(60, 3, 3)), "b->a": list(rng.normal(60, 3, 3))},
                "dann": {"a->b": list(rng.normal(62, 3, 3))}})
    t = aggregate(df, reps=1000)
    assert (t["tasks"] == 1).all()
    assert t.equals(aggregate(df, reps=1000))                        # fixed bootstrap seed
    d = t.set_index("method").loc["dann"]
    assert d["p_lo"] <= d["p_improve"] <= d["p_hi"] and d["rank_lo"] <= d["avg_rank"] <= d["rank_hi"]
    assert aggregate(frame({"x": {"a->b": [1.0]}, "y": {"b->a": [2.0]}})).empty
