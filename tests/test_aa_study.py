"""scripts/aa_study.py, the A/A study of the calibrated gate: a planted drop touches only the named
cell's accuracy, the study reads the real `bench compare` CLI's verdicts, and on deterministic A/A
runs the smallest uniform drop the paired gate catches is the accuracy floor (closed form: every
seed moved alike, so sd(d) = 0 and p = 0; the threshold alone decides)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench.analysis.noise import FLOORS
from bench.results import read_results
from tests.report_rows import row, write

pytestmark = pytest.mark.numeric

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "aa_study.py"
spec = importlib.util.spec_from_file_location("aa_study", SCRIPT)
aa_study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(aa_study)


def run(root: Path, name: str) -> Path:
    rows = [row(s, "p->q", seed, 70.0 + seed) for s in ("quiet", "other") for seed in (0, 1, 2)]
    return write(root / name, rows)


def test_a_planted_drop_lowers_only_that_cells_accuracy(tmp_path):
    a = run(tmp_path, "a")
    planted = aa_study.plant_drop(a, tmp_path / "planted", "quiet", 3.0)
    before = read_results(a).sort_values("cell_key").reset_index(drop=True)
    after = read_results(planted).sort_values("cell_key").reset_index(drop=True)
    assert list(before["cell_key"]) == list(after["cell_key"])
    quiet = before["strategy"] == "quiet"
    assert (before.loc[quiet, "target_acc"] - after.loc[quiet, "target_acc"]).tolist() == [3.0] * 3
    untouched = [c for c in before.columns if c != "target_acc"]
    assert before[untouched].equals(after[untouched])
    assert before.loc[~quiet, "target_acc"].equals(after.loc[~quiet, "target_acc"])


def test_the_study_reads_the_cli_verdicts(tmp_path):
    a, b = run(tmp_path, "a"), run(tmp_path, "b")
    assert aa_study.bench_compare(a, b, ["--calibrate", str(b)]) == (0, [])
    planted = aa_study.plant_drop(b, tmp_path / "planted", "quiet", 3.0)
    assert aa_study.bench_compare(a, planted, ["--calibrate", str(b)]) == (1, [("quiet", "target_acc")])


def test_the_smallest_drop_the_paired_gate_catches_on_identical_runs_is_the_floor(tmp_path):
    a, b = run(tmp_path, "a"), run(tmp_path, "b")
    step = 0.1
    low = aa_study.smallest_caught(a, b, "quiet", ["--calibrate", str(b), "--paired"], tmp_path,
                                   hi=1.0, step=step)
    assert FLOORS["accuracy"] - 1e-9 <= low <= FLOORS["accuracy"] + step
