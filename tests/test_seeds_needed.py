"""Seeds needed: the paired t-test power calculation against published sample sizes and its own
definition (the smallest n that reaches the power), close calls found on a planted table, and the
report section."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bench.analysis.report import build_report
from bench.analysis.report.seeds_needed import (MAX_SEEDS, POWER, close_calls, paired_t_power,
                                                seeds_for_effect)
from tests.report_rows import row, write

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels


@pytest.mark.parametrize("d_z,published", [(0.5, 34), (0.8, 15), (1.0, 10)])
def test_sample_sizes_equal_the_published_paired_t_test_tables(d_z, published):
    # Cohen (1988) / G*Power, "difference between two dependent means", alpha 0.05 two-sided, power 0.8;
    # at these effects power(n-1) and power(n) lie >= 0.005 either side of 0.8
    assert seeds_for_effect(d_z) == published


@pytest.mark.parametrize("d_z", [0.3, 0.7, 1.5, 3.0])
def test_the_answer_is_the_smallest_n_that_reaches_the_power(d_z):
    n = seeds_for_effect(d_z)
    assert paired_t_power(d_z, n) >= POWER
    assert n == 2 or paired_t_power(d_z, n - 1) < POWER
    # at least the normal approximation's bound (a t-test needs more pairs than a z-test)
    from scipy.stats import norm
    assert n >= ((norm.ppf(0.975) + norm.ppf(POWER)) / d_z) ** 2 - 1


def test_power_grows_with_seeds_and_no_effect_needs_no_finite_budget():
    powers = [paired_t_power(0.6, n) for n in range(2, 60)]
    assert all(b >= a for a, b in zip(powers, powers[1:]))
    assert seeds_for_effect(0.0) is None
    assert seeds_for_effect(1e-3) is None  # would need ~8 million seeds > MAX_SEEDS
    assert MAX_SEEDS < 7_000_000


def planted() -> pd.DataFrame:
    """On one pair: a and b close (differences per seed planted), c far below both."""
    diffs = np.array([1.0, -0.5, 2.0, 0.5])
    rows = []
    for s, d in enumerate(diffs):
        base = 70.0 + 3.0 * s  # seed-to-seed swings larger than the a-b difference: intervals overlap
        rows += [row("a", "p->q", s, base + d), row("b", "p->q", s, base), row("c", "p->q", s, 20.0 + s)]
    df = pd.DataFrame(rows)
    df["pair"] = df["source_domain"] + "->" + df["target_domain"]
    return df.rename(columns={"strategy": "method"})


def test_close_calls_are_the_overlapping_pairs_with_the_paired_effect_and_spread():
    calls = close_calls(planted(), "target_acc")
    assert len(calls) == 1  # c is far from both: the table already orders it
    call = calls.iloc[0]
    diffs = np.array([1.0, -0.5, 2.0, 0.5])
    assert (call.better, call.worse, call.seeds_now) == ("a", "b", 4)
    assert call.effect == pytest.approx(diffs.mean(), rel=1e-12)
    assert call.sd_diff == pytest.approx(diffs.std(ddof=1), rel=1e-12)
    assert call.seeds_needed == seeds_for_effect(diffs.mean() / diffs.std(ddof=1))


def test_the_report_lists_close_calls_with_the_seeds_they_need(tmp_path):
    df = planted().rename(columns={"method": "strategy"}).drop(columns="pair")
    write(tmp_path / "r", df.to_dict("records"))
    md = build_report([tmp_path / "r"], tmp_path / "rep").read_text()
    section = md.split("### seeds needed", 1)[1].split("###")[0]
    d = np.array([1.0, -0.5, 2.0, 0.5])
    assert "1 close call(s)" in section and "paired t-test" in section
    needed = seeds_for_effect(d.mean() / d.std(ddof=1))
    assert re.search(rf"\|\s*a\s*\|\s*b\s*\|.*\|\s*4\s*\|\s*{needed}\s*\|", section)
    assert list((tmp_path / "rep" / "tables").glob("seeds__*.csv"))
