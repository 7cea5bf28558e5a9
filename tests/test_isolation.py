"""Cell isolation: every failure kind becomes a row with its status, and the sweep goes on."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import tests.failing_strategies  # noqa: F401  (registers the debug_* strategies here too)
from bench.cli import main
from bench.results import read_results
from bench.run.runner import run_suite
from bench.plan.cells import expand
from tests.sweep_helpers import make_suite, write_suite

PLUGIN = ("tests.failing_strategies",)


@pytest.fixture(autouse=True)
def bench_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def by_strategy(df):
    return {(r.strategy, json.loads(r.hparams).get("how")): r for r in df.itertuples()}


def test_every_failure_kind_becomes_a_row_in_a_worker_process(tmp_path):
    suite = make_suite(strategies=["full_finetune", "debug_raise", "debug_nan", "debug_oom",
                                   {"name": "debug_crash", "how": "exit"},
                                   {"name": "debug_crash", "how": "segv"}, "source_only"])
    summary = run_suite(suite, tmp_path / "res", executor="process", show_progress=False, plugins=PLUGIN)
    df = read_results(tmp_path / "res")
    assert sorted(df.cell_key) == sorted(c.key() for c in expand(suite))  # every cell exactly once
    rows = by_strategy(df)
    assert rows[("full_finetune", None)].status == "ok"
    assert rows[("source_only", None)].status == "ok"  # after two hard crashes, a fresh worker runs it
    assert rows[("debug_raise", None)].status == "failed"
    assert "boom from debug_raise" in rows[("debug_raise", None)].error
    assert rows[("debug_nan", None)].status == "diverged"
    assert "at step 2" in rows[("debug_nan", None)].error
    assert rows[("debug_oom", None)].status == "oom"
    assert rows[("debug_crash", "exit")].status == "failed"
    assert "exited with code 3" in rows[("debug_crash", "exit")].error
    assert rows[("debug_crash", "segv")].status == "failed"
    assert "SIGSEGV" in rows[("debug_crash", "segv")].error
    assert summary.not_ok == 5 and summary.statuses["ok"] == 2


def test_oom_backoff_halves_the_batch_until_it_fits_and_records_it(tmp_path):
    suite = make_suite(strategies=[{"name": "debug_oom", "max_batch": 4}], batch_size=16)
    run_suite(suite, tmp_path / "res", executor="inline", show_progress=False, oom_backoff=True)
    row = read_results(tmp_path / "res").iloc[0]
    assert row.status == "ok" and row.batch_size == 4
    assert row.cell_key == expand(suite)[0].key()
    assert json.loads(row.extra)["oom_backoff_batch_sizes"] == [16, 8, 4]


def test_without_backoff_an_oom_stays_an_oom_row(tmp_path):
    suite = make_suite(strategies=[{"name": "debug_oom", "max_batch": 4}], batch_size=16)
    run_suite(suite, tmp_path / "res", executor="inline", show_progress=False)
    row = read_results(tmp_path / "res").iloc[0]
    assert row.status == "oom" and row.batch_size == 16 and "out of memory" in row.error


def test_retry_failed_reruns_only_cells_that_did_not_finish_ok(tmp_path):
    suite = make_suite(strategies=["full_finetune", "debug_raise"])
    first = run_suite(suite, tmp_path / "res", executor="inline", show_progress=False)
    again = run_suite(suite, tmp_path / "res", executor="inline", show_progress=False)
    assert again.total == 2 and again.already_done == 2 and not again.statuses
    retry = run_suite(suite, tmp_path / "res", executor="inline", show_progress=False, retry_failed=True)
    assert retry.already_done == 1 and retry.statuses["failed"] == 1
    runs = {r.strategy: r.run_id for r in read_results(tmp_path / "res").itertuples()}
    assert runs["full_finetune"] == first.run_id and runs["debug_raise"] == retry.run_id


def test_cli_exit_code_and_summary_count_cells_that_did_not_finish_ok(tmp_path):
    suite = write_suite(tmp_path / "s.yaml", strategies=["source_only", "debug_raise", "debug_nan"])
    res = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "res"), "--no-progress",
                                    "--executor", "inline", "--plugin", PLUGIN[0]])
    assert res.exit_code == 1, res.output
    assert "2 cell(s) did not finish ok" in res.output
    assert "diverged 1" in res.output and "failed 1" in res.output and "ok 1" in res.output
