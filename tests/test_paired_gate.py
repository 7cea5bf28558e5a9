"""`bench compare --paired` (issue 24): the same-seed delta in the calibrated gate.

Planted results written through the results writer (tests/report_rows.py): one cell with a wide seed
spread, an A/A pair that agrees exactly (so the calibrated accuracy threshold is the floor), and
candidates that move every seed by one point, or by pure seed noise of mean zero."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from bench.analysis.compare import compare
from bench.analysis.noise import FLOORS, calibrate
from bench.analysis.paired import ALPHA, paired_test
from bench.cli import main
from tests.report_rows import row, write

pytestmark = pytest.mark.numeric

SEEDS = (0, 1, 2)
#: seed-to-seed spread of several points, as in suites/ci.yaml (seed sd 1.5-2.6 there)
BASE = (70.0, 74.0, 66.0)


def run(root, name, accs) -> object:
    return write(root / name, [row("x", "p->q", s, a) for s, a in zip(SEEDS, accs)])


@pytest.fixture()
def aa(tmp_path):
    a, b = run(tmp_path, "a", BASE), run(tmp_path, "b", BASE)  # deterministic CPU: A/A agree
    cal = calibrate([(a, b)])
    assert {t for (_, m), t in cal.items() if m == "target_acc"} == {FLOORS["accuracy"]}
    return a, cal


def flagged(cmp) -> list[tuple[str, str]]:
    return list(zip(cmp.regressions["strategy"], cmp.regressions["metric"]))


def test_a_one_point_drop_on_every_seed_is_caught_paired_and_missed_unpaired(aa, tmp_path):
    a, cal = aa
    cand = run(tmp_path, "cand", [v - 1.0 + j for v, j in zip(BASE, (-0.1, 0.0, 0.1))])
    unpaired = compare(a, cand, cell_thresholds=cal)
    assert flagged(unpaired) == []
    acc = unpaired.rows[unpaired.rows["metric"] == "target_acc"].iloc[0]
    assert acc["verdict"] == "within noise"  # beyond the 0.5 floor, but the seed CI spans zero
    hit = compare(a, cand, cell_thresholds=cal, paired_seeds=True)
    assert flagged(hit) == [("x", "target_acc")]
    assert "3 seeds" in hit.rows[hit.rows["metric"] == "target_acc"].iloc[0]["paired"]


def test_an_exact_shift_of_every_seed_has_no_noise_left(aa, tmp_path):
    a, cal = aa
    cand = run(tmp_path, "cand", [v - 1.0 for v in BASE])
    assert flagged(compare(a, cand, cell_thresholds=cal)) == []
    assert flagged(compare(a, cand, cell_thresholds=cal, paired_seeds=True)) == [("x", "target_acc")]


@pytest.mark.parametrize("draw", range(20))
def test_pure_seed_noise_of_mean_zero_is_not_flagged(aa, tmp_path, draw):
    a, cal = aa
    noise = np.random.default_rng(draw).normal(0.0, 2.0, len(SEEDS))
    noise -= noise.mean()  # random +-, mean 0
    cand = run(tmp_path, "cand", [v + e for v, e in zip(BASE, noise)])
    assert flagged(compare(a, cand, cell_thresholds=cal, paired_seeds=True)) == []
    assert flagged(compare(a, cand, cell_thresholds=cal)) == []


def test_a_mean_drop_carried_by_one_seed_is_within_noise(aa, tmp_path):
    a, cal = aa
    cand = run(tmp_path, "cand", [v + d for v, d in zip(BASE, (-5.0, 1.0, 1.0))])  # mean -1
    cmp = compare(a, cand, cell_thresholds=cal, paired_seeds=True)
    assert flagged(cmp) == []
    assert cmp.rows[cmp.rows["metric"] == "target_acc"].iloc[0]["verdict"] == "within noise"


def test_only_seeds_on_both_sides_are_paired(aa, tmp_path):
    a, cal = aa
    cand = write(tmp_path / "cand", [row("x", "p->q", s, v - 1.0) for s, v in zip(SEEDS[:2], BASE[:2])])
    cmp = compare(a, cand, cell_thresholds=cal, paired_seeds=True)
    assert "2 seeds" in cmp.rows[cmp.rows["metric"] == "target_acc"].iloc[0]["paired"]
    assert flagged(cmp) == [("x", "target_acc")]


def test_the_test_is_scipys_one_sided_paired_t_test():
    base, cand = np.array(BASE), np.array([69.2, 73.5, 64.6])
    p = paired_test(cand - base, higher_is_better=True)
    expected = stats.ttest_rel(cand, base, alternative="less")
    assert p.p_worse == pytest.approx(expected.pvalue, rel=1e-9)
    assert p.p_better == pytest.approx(1 - expected.pvalue, rel=1e-9)
    assert p.mean == pytest.approx((cand - base).mean()) and p.n == 3
    # lower is better (forgetting): the same differences are an improvement
    lower = paired_test(cand - base, higher_is_better=False)
    assert lower.p_better == pytest.approx(expected.pvalue, rel=1e-9)
    assert ALPHA == 0.05


def test_cli_paired_flag(aa, tmp_path):
    a, _ = aa
    b = tmp_path / "b"
    cand = run(tmp_path, "cand", [v - 1.0 + j for v, j in zip(BASE, (-0.1, 0.0, 0.1))])
    runner = CliRunner()
    plain = runner.invoke(main, ["compare", str(a), str(cand), "--calibrate", str(b)])
    assert plain.exit_code == 0, plain.output
    md = tmp_path / "cmp.md"
    hit = runner.invoke(main, ["compare", str(a), str(cand), "--calibrate", str(b), "--paired",
                               "--markdown", str(md)])
    assert hit.exit_code == 1 and "REGRESSION" in hit.output, hit.output
    assert "paired t-test" in md.read_text() and "| paired" in md.read_text()
    assert "--paired" in runner.invoke(main, ["compare", "--help"]).output
