"""``bench run --dry-run --estimate``: device-hours from step times planted in a results dir."""
import json
import math
import re
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from click.testing import CliRunner

from bench.cell.run_cell import base_row
from bench.cli import main
from bench.run.estimate import calibration_suite, estimate, measured_step_times
from bench.results import read_results, write_row
from bench.plan.suite import Suite
from bench.plan.cells import expand
from tests.sweep_helpers import tiny_suite, write_suite

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels

T_STEP, T_SOURCE, T_FIXED, CAL_BATCH = 0.5, 0.2, 3.0, 16


def plant(results, strategy="full_finetune", seeds=(0, 1)):
    """Rows as a calibration run would leave them, with known step times."""
    raw = tiny_suite([strategy], seeds=list(seeds), adapt_steps=4, batch_size=CAL_BATCH)
    for cell in expand(Suite.model_validate(raw)):
        row = base_row(cell, "cal", "cpu")
        start = datetime(2026, 1, 1, tzinfo=timezone.utc)
        source_s = 10 * T_SOURCE * 32 / CAL_BATCH  # 10 source steps at batch 32, not cached
        wall = source_s + 4 * T_STEP + T_FIXED
        row.update(status="ok", steps=4, adapt_wall_s=4 * T_STEP, source_wall_s=source_s,
                   source_cached=False, started_at=start, finished_at=start + timedelta(seconds=wall),
                   extra=json.dumps({"adapt_step_s": T_STEP, "source_step_s": T_SOURCE * 32 / CAL_BATCH,
                                     "source_batch_size": 32}))
        write_row(results, row)


def test_measured_step_times_are_the_planted_ones(tmp_path):
    plant(tmp_path)
    t = measured_step_times(read_results(tmp_path)).iloc[0]
    assert (t.backbone, t.strategy, t.precision) == ("small_cnn", "full_finetune", "fp32")
    assert math.isclose(t.t_step, T_STEP) and math.isclose(t.t_fixed, T_FIXED, abs_tol=1e-6)
    assert math.isclose(t.t_source, T_SOURCE) and t.batch == CAL_BATCH and t.n == 2 and not t.cuda


def test_estimate_is_the_closed_form_sum(tmp_path):
    plant(tmp_path)
    times = measured_step_times(read_results(tmp_path))
    raw = tiny_suite(["full_finetune", "source_only"], seeds=[0, 1, 2], adapt_steps=100, batch_size=32)
    raw["source"] = {"steps": 50, "batch_size": 32}
    table = estimate(expand(Suite.model_validate(raw)), times).set_index("strategy")
    scale = 32 / CAL_BATCH
    ft = table.loc["full_finetune"]
    assert ft.cells == 3 and math.isclose(ft.seconds, 3 * (100 * T_STEP * scale + T_FIXED), rel_tol=1e-9)
    src = table.loc["(source stage)"]  # one source model per seed, shared by both strategies
    assert src.cells == 0 and math.isclose(src.seconds, 3 * 50 * T_SOURCE * scale, rel_tol=1e-9)
    # source_only was never measured: it borrows the backbone's median and says so; it takes no
    # training steps, so only the fixed part counts
    so = table.loc["source_only"]
    assert so.flag == "backbone median" and so.steps == 0 and math.isclose(so.seconds, 3 * T_FIXED)


def test_a_cell_that_will_be_skipped_costs_nothing(tmp_path):
    plant(tmp_path)
    times = measured_step_times(read_results(tmp_path))
    raw = tiny_suite(["full_finetune"], budgets=[0, "all"], adapt_steps=100, batch_size=32)
    table = estimate(expand(Suite.model_validate(raw)), times).set_index("strategy")
    ft = table.loc["full_finetune"]  # budget 0: full_finetune needs target labels, so it is skipped
    assert ft.cells == 2 and ft.steps == 100
    assert math.isclose(ft.seconds, 100 * T_STEP * 32 / CAL_BATCH + T_FIXED, rel_tol=1e-9)


def test_an_unmeasured_backbone_is_named_not_guessed(tmp_path):
    plant(tmp_path)
    raw = tiny_suite(["full_finetune"])
    raw["backbones"] = [{"name": "timm/test_vit", "kwargs": {"img_size": 8, "patch_size": 4}}]
    table = estimate(expand(Suite.model_validate(raw)), measured_step_times(read_results(tmp_path)))
    assert table.iloc[0].flag == "not measured" and math.isnan(table.iloc[0].seconds)


def test_calibration_suite_has_one_short_cell_per_strategy():
    raw = tiny_suite(["full_finetune", {"name": "dann", "label_budgets": [0]}, {"name": "lora", "steps": 500}],
                     seeds=[0, 1, 2], budgets=[0, 10], adapt_steps=5000)
    cal = calibration_suite(Suite.model_validate(raw), steps=7)
    cells = expand(cal)
    assert len(cells) == 3 and {c.seed for c in cells} == {0}
    assert all(c.adapt.steps == 7 and c.source.steps == 7 for c in cells)
    assert [c for c in cells if c.strategy == "lora"][0].hparams.get("steps") is None


def test_cli_dry_run_estimate_from_a_results_dir(tmp_path):
    plant(tmp_path / "cal")
    suite = write_suite(tmp_path / "s.yaml", strategies=["full_finetune"], seeds=[0, 1], adapt_steps=100,
                        batch_size=16)
    res = CliRunner().invoke(main, ["run", str(suite), "--dry-run", "--estimate", "--calibrate",
                                    str(tmp_path / "cal"), "--results", str(tmp_path / "res")])
    assert res.exit_code == 0, res.output
    assert "CPU-hours" in res.output and "(source stage)" in res.output
    assert "cells at once" not in res.output
    res = CliRunner().invoke(main, ["run", str(suite), "--dry-run", "--estimate", "--calibrate",
                                    str(tmp_path / "cal"), "--results", str(tmp_path / "res"),
                                    "--workers", "2"])
    assert res.exit_code == 0 and "wall time with 2 cells at once" in res.output, res.output
    res = CliRunner().invoke(main, ["run", str(suite), "--estimate"])
    assert res.exit_code == 2 and "--dry-run" in res.output


def test_without_a_results_dir_a_short_calibration_run_measures_first(tmp_path):
    suite = write_suite(tmp_path / "s.yaml", strategies=["full_finetune", "source_only"], adapt_steps=300)
    res = CliRunner().invoke(main, ["run", str(suite), "--dry-run", "--estimate", "--no-progress",
                                    "--results", str(tmp_path / "res")])
    assert res.exit_code == 0, res.output
    assert "calibrating" in res.output and "not measured" not in res.output
    assert not (tmp_path / "res").exists()  # the suite's own results dir is untouched


def test_a_joint_suite_costs_a_source_stage_only_for_the_cells_that_have_one(tmp_path):
    """Under ``protocol: joint`` a domain-adaptation method trains from the initial weights: no
    source model, so no "(source stage)" line for it; source_only still trains one per seed."""
    plant(tmp_path)
    times = measured_step_times(read_results(tmp_path))
    raw = tiny_suite(["dann", "mcc"], budgets=[0], seeds=[0, 1], adapt_steps=100, batch_size=32)
    raw.update(protocol="joint", source={"steps": 50, "batch_size": 32})
    table = estimate(expand(Suite.model_validate(raw)), times)
    assert "(source stage)" not in set(table.strategy) and table.seconds.notna().all()
    raw["strategies"] = ["dann", "source_only"]
    table = estimate(expand(Suite.model_validate(raw)), times).set_index("strategy")
    src = table.loc["(source stage)"]  # source_only's two seeds; dann's cells add nothing
    assert src.cells == 0 and math.isclose(src.seconds, 2 * 50 * T_SOURCE * 32 / CAL_BATCH, rel_tol=1e-9)


def test_cli_estimate_of_a_joint_suite_prints_no_nan_source_stage(tmp_path):
    """The calibration run of a joint suite measures no source step (none is taken): the printed
    table must not carry a "(source stage)" line of NaN hours for a stage that does not exist."""
    raw = tiny_suite(["dann"], budgets=[0], adapt_steps=300)
    raw["protocol"] = "joint"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw))
    res = CliRunner().invoke(main, ["run", str(tmp_path / "s.yaml"), "--dry-run", "--estimate",
                                    "--no-progress", "--results", str(tmp_path / "res")])
    assert res.exit_code == 0, res.output
    assert "(source stage)" not in res.output and not re.search(r"\bnan\b", res.output, re.I)
    assert "dann" in res.output and "total:" in res.output
