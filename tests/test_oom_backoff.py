"""`bench run --oom-backoff` with checkpoints: the backed-off cell's checkpoint table is filed under
the row's cell key (the planned cell's), so report-time selection and `bench reproduce` find it.

The out-of-memory is real to the harness: ``debug_oom`` (tests/failing_strategies.py) raises the
error torch raises on a CUDA OOM whenever its batch is larger than ``max_batch``."""
from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

import tests.failing_strategies  # noqa: F401  (registers the debug_* strategies here too)
from bench.analysis.report.select import picked_row, read_checkpoints, select
from bench.cli import main
from bench.plan.cells import expand
from bench.plan.suite import Suite
from bench.results import ResultsDir, read_results
from bench.run.runner import run_suite
from tests.sweep_helpers import tiny_suite

PLUGIN = ("tests.failing_strategies",)


@pytest.fixture(autouse=True)
def bench_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _spec() -> dict:
    spec = tiny_suite([{"name": "debug_oom", "max_batch": 4}], name="oomck", source_steps=6,
                      adapt_steps=4, batch_size=16)
    spec["checkpoints"] = 2
    return spec


@pytest.fixture()
def backed_off(tmp_path):
    suite = Suite.model_validate(_spec())
    run_suite(suite, tmp_path / "res", executor="inline", show_progress=False, oom_backoff=True,
              plugins=PLUGIN)
    return suite, tmp_path / "res"


def test_checkpoints_of_a_backed_off_cell_are_filed_under_the_rows_key(backed_off):
    suite, res = backed_off
    rows = read_results(res)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row.status == "ok" and row.batch_size == 4  # it did back off: 16 -> 8 -> 4
    assert row.cell_key == expand(suite)[0].key()      # the row is the planned cell's
    results = ResultsDir(res)
    assert [p.stem for p in results.checkpoint_files()] == [row.cell_key]
    assert results.checkpoint(row.cell_key).is_file()
    assert set(read_checkpoints([res])["cell_key"]) == {row.cell_key}


def test_a_rule_selects_a_checkpoint_of_the_backed_off_row(backed_off):
    _, res = backed_off
    rows = read_results(res)
    checkpoints = read_checkpoints([res])
    picked = select(rows, checkpoints, "source_val")
    assert len(picked) == 1
    step = picked.iloc[0]["selected_step"]
    assert step == step  # a checkpoint was picked (NaN: the row fell back to its final values)
    mine = checkpoints[(checkpoints["cell_key"] == rows.iloc[0]["cell_key"]) & (checkpoints["step"] == step)]
    assert picked.iloc[0]["target_acc"] == mine.iloc[0]["target_acc"]
    via_key = picked_row(res, "source_val", rows.iloc[0]["cell_key"])
    assert via_key["selected_step"] == step


def test_reproduce_names_the_back_off_and_the_rerun_gives_the_stored_pick(backed_off, tmp_path):
    _, res = backed_off
    rule = "source_val"
    stored = select(read_results(res), read_checkpoints([res]), rule).iloc[0]
    out = tmp_path / "one.yaml"
    made = CliRunner().invoke(main, ["reproduce", str(res), stored["cell_key"], "--select", rule,
                                     "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert f"step {int(stored['selected_step'])}" in made.output
    assert "--oom-backoff" in made.output  # without it the rerun stops at the same out-of-memory
    one = Suite.model_validate(yaml.safe_load(out.read_text()))
    run_suite(one, tmp_path / "again", executor="inline", show_progress=False, oom_backoff=True,
              plugins=PLUGIN)
    again = select(read_results(tmp_path / "again"), read_checkpoints([tmp_path / "again"]), rule).iloc[0]
    assert again["batch_size"] == stored["batch_size"]
    assert again["selected_step"] == stored["selected_step"]
    assert again["target_acc"] == stored["target_acc"]
