"""The regression gate calibrated on an A/A pair: thresholds from the measured same-code spread
(closed form of the rule), no false alarm on the A/A pair itself, a planted 3-point drop caught on a
cell whose A/A runs agreed, a drop within a noisy cell's measured spread let through."""
from __future__ import annotations

import pytest

from bench.analysis.compare import compare
from bench.analysis.noise import FLOORS, K, calibrate
from tests.report_rows import row, write

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels

SEEDS = (0, 1, 2)
JITTER = (-0.1, 0.0, 0.1)


def run(root, name, quiet=70.0, noisy=60.0, sps=1000.0):
    """Two cells: `quiet` (deterministic, its A/A runs agree) and `noisy` (its A/A runs differ)."""
    rows = [row("quiet", "p->q", s, quiet + j, train_sps=sps) for s, j in zip(SEEDS, JITTER)]
    rows += [row("noisy", "p->q", s, noisy + j, train_sps=sps) for s, j in zip(SEEDS, JITTER)]
    return write(root / name, rows)


def thresholds_by_strategy(cal):
    return {(key[1], metric): t for (key, metric), t in cal.items()}


def test_thresholds_follow_the_rule(tmp_path):
    a = run(tmp_path, "a")
    b = run(tmp_path, "b", noisy=61.0, sps=900.0)  # the noisy cell moved 1 point, throughput -10%
    cal = thresholds_by_strategy(calibrate([(a, b)]))
    assert cal[("quiet", "target_acc")] == FLOORS["accuracy"]          # spread 0 -> the floor
    assert cal[("noisy", "target_acc")] == pytest.approx(K * 1.0)       # K x |A - B|
    assert cal[("quiet", "train_samples_per_s")] == pytest.approx(K * 10.0)
    assert cal[("quiet", "forgetting")] == FLOORS["accuracy"]


def test_more_pairs_take_the_largest_spread(tmp_path):
    a, b, c = run(tmp_path, "a"), run(tmp_path, "b", noisy=61.0), run(tmp_path, "c", noisy=58.0)
    cal = thresholds_by_strategy(calibrate([(a, b), (a, c)]))
    assert cal[("noisy", "target_acc")] == pytest.approx(K * 2.0)


def test_no_false_alarm_on_the_pair_and_a_planted_drop_is_caught(tmp_path):
    a, b = run(tmp_path, "a"), run(tmp_path, "b", noisy=61.0, sps=900.0)
    cal = calibrate([(a, b)])
    assert compare(a, b, cell_thresholds=cal).regressions.empty
    dropped = run(tmp_path, "drop", quiet=67.0)  # a planted 3-point drop on the quiet cell
    hit = compare(a, dropped, cell_thresholds=cal).regressions
    assert list(zip(hit["strategy"], hit["metric"])) == [("quiet", "target_acc")]


def test_a_drop_within_the_measured_spread_is_let_through(tmp_path):
    a, b = run(tmp_path, "a"), run(tmp_path, "b", noisy=61.0)
    cand = run(tmp_path, "cand", noisy=57.5)  # 2.5 points: beyond the fixed 2-point threshold
    fixed = compare(a, cand).regressions
    assert list(zip(fixed["strategy"], fixed["metric"])) == [("noisy", "target_acc")]
    assert compare(a, cand, cell_thresholds=calibrate([(a, b)])).regressions.empty


def test_bench_compare_calibrate_lets_the_noisy_cell_through_and_catches_the_quiet_drop(tmp_path):
    from click.testing import CliRunner

    from bench.cli import main

    a, b = run(tmp_path, "a"), run(tmp_path, "b", noisy=61.0)
    cand = run(tmp_path, "cand", noisy=57.5)
    r = CliRunner().invoke(main, ["compare", str(a), str(cand), "--calibrate", str(b)])
    assert r.exit_code == 0, r.output
    cand2 = run(tmp_path, "cand2", quiet=67.0, noisy=57.5)
    r = CliRunner().invoke(main, ["compare", str(a), str(cand2), "--calibrate", str(b)])
    assert r.exit_code == 1 and "REGRESSION" in r.output


def test_a_throughput_threshold_of_100_percent_or_more_is_said_to_switch_the_check_off(tmp_path):
    # the A/A pair's throughput differs by 50% (as on a loaded shared runner): K x 50 = 150%, and a
    # drop is at most 100% of the baseline, so even a 90% drop passes; the comparison says why
    a, b = run(tmp_path, "a"), run(tmp_path, "b", sps=1500.0)
    cal = calibrate([(a, b)])
    assert thresholds_by_strategy(cal)[("quiet", "train_samples_per_s")] == pytest.approx(K * 50.0)
    slow = compare(a, run(tmp_path, "slow", sps=100.0), cell_thresholds=cal)
    assert slow.regressions.empty
    assert any("train_samples_per_s" in n and "switches those checks off" in n for n in slow.notes)
    # a calibration that leaves the check able to fire says nothing of the kind
    quiet = compare(a, run(tmp_path, "slow2", sps=100.0), cell_thresholds=calibrate([(a, a)]))
    assert not any("switches those checks off" in n for n in quiet.notes)
    assert set(quiet.regressions["metric"]) == {"train_samples_per_s"}
