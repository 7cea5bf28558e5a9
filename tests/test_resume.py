"""Crash-safe resume: kill -9 the runner at random moments, rerun, and every cell is there once."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.run.executors import RunContext, execute_cell
from bench.locks import try_claim
from bench.results import ResultsError, read_results, result_files, tmp_tag
from bench.run.resume import clean_stale_tmp, prepare_results_dir, scan
from bench.run.runner import run_suite
from bench.plan.suite import load_suite
from bench.plan.cells import expand
from tests.sweep_helpers import make_suite, write_suite

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def bench_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def _gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            # a zombie still answers kill(0); its state is Z
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_sigkill_at_random_moments_then_rerun_loses_and_duplicates_nothing(tmp_path):
    suite_file = write_suite(tmp_path / "s.yaml", strategies=["source_only", "full_finetune", "linear_probe"],
                             budgets=[5, "all"], seeds=[0, 1], source_steps=40, adapt_steps=20)
    results = tmp_path / "res"
    cmd = [sys.executable, "-m", "bench", "run", str(suite_file), "--results", str(results), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(7)
    for attempt in range(3):
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # wait until a random number of further cells is written, then a random moment more
        # (mid-step, mid-source-stage or mid-write): every kill lands inside the sweep
        target = len(result_files(results)) + rng.randint(1, 3)
        deadline = time.monotonic() + 120
        while len(result_files(results)) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.5))
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert all(_gone(w) for w in workers), "a worker outlived its killed runner"
        # whatever is there now is readable: a kill never leaves a half-written result
        for path in result_files(results):
            pq.read_table(path)
        print(f"kill {attempt}: {len(result_files(results))} results, {len(workers)} worker(s) killed with it")
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    keys = sorted(c.key() for c in expand(load_suite(suite_file)))
    df = read_results(results)
    assert sorted(df.cell_key) == keys  # every cell exactly once
    assert set(df.status) <= {"ok", "skipped"} and (df.status == "ok").sum() >= len(keys) // 2
    assert not list(results.glob(".*.tmp"))
    rerun = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0 and f"{len(keys)} already done" in rerun.stdout  # nothing redone


def test_stale_temp_files_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = tmp_tag().rsplit("-", 1)[0]
    stale = tmp_path / f".abc.{host}-{dead.pid}.1234.tmp"
    live = tmp_path / f".def.{tmp_tag()}.5678.tmp"
    legacy = tmp_path / ".ghi.9abc.tmp"  # the foundation's naming: no writer recorded
    for p in (stale, live, legacy):
        p.write_bytes(b"partial")
    clean_stale_tmp(tmp_path)
    assert not stale.exists() and not legacy.exists() and live.exists()


def test_truncated_and_foreign_parquet_are_quarantined_and_the_cell_rerun(tmp_path):
    suite = make_suite(strategies=["source_only", "full_finetune"])
    res = tmp_path / "res"
    run_suite(suite, res, executor="inline", show_progress=False)
    victim = result_files(res)[0]
    victim.write_bytes(victim.read_bytes()[:100])  # truncated (e.g. by a copy to a full disk)
    pq.write_table(pa.table({"x": [1, 2]}), res / "notes.parquet")  # someone else's file
    statuses, warnings = scan(res)
    assert victim.stem not in statuses and len(warnings) == 2
    assert any("notes.parquet" in w and "_quarantine" in w for w in warnings)
    assert len(list((res / "_quarantine").glob("*.why.txt"))) == 2
    again = run_suite(suite, res, executor="inline", show_progress=False)
    assert again.statuses["ok"] == 1 and again.already_done == 1
    assert sorted(read_results(res).cell_key) == sorted(c.key() for c in expand(suite))


def test_a_file_of_a_newer_schema_stops_the_run_with_what_to_do(tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    table = pa.table({"cell_key": ["k"], "status": ["ok"]}).replace_schema_metadata(
        {b"transfer_bench_schema_version": b"999"})
    pq.write_table(table, res / "k.parquet")
    with pytest.raises(ResultsError, match="upgrade transfer-bench"):
        run_suite(make_suite(strategies=["source_only"]), res, executor="inline", show_progress=False)
    assert (res / "k.parquet").exists()  # nothing moved, nothing lost


def test_a_claimed_cell_is_left_to_its_holder(tmp_path):
    cell = expand(make_suite(strategies=["source_only"]))[0]
    rc = RunContext(results_dir=tmp_path, run_id="r", device="cpu")
    claim = try_claim(tmp_path / "_locks" / f"{cell.key()}.lock")
    assert claim is not None
    assert execute_cell(cell, rc) is None and not result_files(tmp_path)
    claim.release()
    assert execute_cell(cell, rc)["status"] == "ok" and len(result_files(tmp_path)) == 1


def test_prepare_clears_fresh_and_keeps_results_otherwise(tmp_path):
    res = tmp_path / "res"
    run_suite(make_suite(strategies=["source_only"]), res, executor="inline", show_progress=False)
    prepare_results_dir(res)
    assert len(result_files(res)) == 1
    prepare_results_dir(res, fresh=True)
    assert not result_files(res)
    shutil.rmtree(res)


def test_workers_needing_one_source_model_train_it_once(tmp_path):
    import multiprocessing as mp

    from tests.sweep_helpers import source_model_in_process

    cell = expand(make_suite(strategies=["source_only"], source_steps=60))[0]
    with mp.get_context("spawn").Pool(3) as pool:
        cached = pool.starmap(source_model_in_process, [(cell.model_dump_json(), str(tmp_path / "src"))] * 3)
    assert sorted(cached) == [False, True, True]  # one trained, the others waited and loaded
    assert [p.name for p in (tmp_path / "src").iterdir() if not p.name.startswith(".")] == [cell.source_key()]
