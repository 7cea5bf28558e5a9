"""Faults in and around a results directory (issue 26 A, G, H, L2): a suite name is never a path,
--fresh deletes only what the harness wrote (and checks before it deletes), the binding is written
atomically and a damaged one is one clear line, damaged side files never crash a reader and never
count as done, and folders or link loops in the directory are moved aside, not deleted.

Input and environment faults: exit 2 and one line. Nothing the harness did not create is deleted.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.errors import ResultsWarning, SuiteError
from bench.plan.suite import Suite, load_suite
from bench.results import ResultsDir, ResultsError, read_checkpoints, read_results, result_files
from bench.run.runner import run_suite
from tests.conftest import REPO, bench_cli


def tiny(name: str = "t", checkpoints: int = 2) -> Suite:
    return Suite(name=name, backbones=[{"name": "mlp", "kwargs": {"hidden": 8}}],
                 strategies=["source_only", "dann"], pairs=["moons -> moons-rot/30"],
                 label_budgets=[0], seeds=[0], source={"steps": 3, "batch_size": 32},
                 adapt={"steps": 4, "batch_size": 32}, checkpoints=checkpoints, threads=1)


def run(out, suite: Suite | None = None, fresh: bool = False):
    return run_suite(suite or tiny(), out, device="cpu", show_progress=False, executor="inline", fresh=fresh)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-cell results directory (dann has checkpoints); copy it, never change it."""
    out = tmp_path_factory.mktemp("finished") / "r"
    run(out)
    return out


@pytest.fixture
def results(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "r", symlinks=True)
    return tmp_path / "r"


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(tiny().model_dump_json())  # JSON is YAML
    return path


def one_error_line(proc) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def warning_lines(proc) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]


def adapted_key(results) -> str:
    """The key of the cell that adapted (dann: several checkpoints; source_only has only its final one)."""
    return next(p.stem for p in ResultsDir(results).checkpoint_files() if pq.read_metadata(p).num_rows > 1)


# -- A: a suite's name is one safe path component; --fresh deletes only the harness's directory ----

@pytest.mark.parametrize("name", ["/tmp/victim", "../../victim2", "a/b", "a\\b", ".", "..", ".hidden",
                                  "_runs", "tab\there", "nul\x00"])
def test_a_suite_name_that_is_not_one_plain_path_component_is_refused(tmp_path, name):
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({**json.loads(tiny().model_dump_json()), "name": name}))
    with pytest.raises(SuiteError, match="suite name .* results directory") as e:
        load_suite(path)
    assert "\n" not in str(e.value)


def test_an_absolute_suite_name_with_fresh_deletes_nothing_and_exits_2(tmp_path, suite_file):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    suite_file.write_text(json.dumps({**json.loads(suite_file.read_text()), "name": str(victim)}))
    line = one_error_line(bench_cli("run", str(suite_file), "--fresh", "--executor", "inline", cwd=tmp_path))
    assert "suite name" in line and "absolute path" in line
    assert (victim / "thesis.tex").read_text() == "years of work"


def test_fresh_refuses_a_directory_that_is_not_a_results_directory(tmp_path, suite_file):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.csv").write_text("1,2\n")
    line = one_error_line(bench_cli("run", str(suite_file), "--results", str(victim), "--fresh",
                                    "--executor", "inline"))
    assert "_suite.json" in line and "another --results" in line
    assert sorted(p.name for p in victim.iterdir()) == ["data.csv"]


def test_fresh_moves_what_the_harness_did_not_write_to_the_quarantine(results):
    (results / "notes.txt").write_text("my notes")
    summary = run(results, fresh=True)
    assert summary.already_done == 0 and summary.statuses["ok"] == 2
    kept = [p for p in ResultsDir(results).quarantine_dir.iterdir() if p.name.startswith("notes.txt")]
    assert any(p.read_text() == "my notes" for p in kept)


def test_fresh_on_a_symlinked_results_path_is_one_line_and_touches_nothing(results, tmp_path, suite_file):
    link = tmp_path / "link"
    link.symlink_to(results)
    before = sorted(p.name for p in results.iterdir())
    line = one_error_line(bench_cli("run", str(suite_file), "--results", str(link), "--fresh",
                                    "--executor", "inline"))
    assert "symlink" in line and str(results) in line
    assert link.is_symlink() and sorted(p.name for p in results.iterdir()) == before


def _make_unchangeable(folder) -> bool:
    """chattr +i (root ignores permission bits), else chmod a-w; False if neither holds here."""
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        return True
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    return False


def _undo(folder) -> None:
    subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


def test_fresh_checks_every_folder_before_deleting_anything(results):
    everything = sorted(str(p.relative_to(results)) for p in results.rglob("*"))
    locked = ResultsDir(results).source_models
    if not _make_unchangeable(locked):
        pytest.skip("cannot make a folder unchangeable here (root without chattr)")
    try:
        with pytest.raises(ResultsError, match="stopped before deleting anything.*_source_models") as e:
            run(results, fresh=True)
        assert "\n" not in str(e.value)
        assert sorted(str(p.relative_to(results)) for p in results.rglob("*")) == everything
    finally:
        _undo(locked)


# -- G: the binding is written atomically, and a damaged one is one clear line -------------------

def test_a_binding_write_that_fails_midway_leaves_no_binding_behind(tmp_path):
    """The write of _suite.json hits a file-size limit (as a full disk or a kill would cut it):
    no 0-byte binding may stay, or every later run is refused."""
    out = tmp_path / "r"
    code = ("import resource, signal, sys\n"
            "from pathlib import Path\n"
            "from bench.run.resume import bind_results_dir, prepare_results_dir\n"
            f"out = Path({str(out)!r}); prepare_results_dir(out)\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (8, 8))\n"
            "try:\n    bind_results_dir(out, 't', {'abc'})\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert "ResultsError" in proc.stdout, (proc.stdout, proc.stderr)
    assert not ResultsDir(out).binding.exists()
    assert run(out, tiny(checkpoints=0)).statuses["ok"] == 2  # the next run binds and runs


def test_concurrent_binders_agree_on_exactly_one_binding(tmp_path):
    from bench.results import create_exclusively

    path = tmp_path / "_suite.json"
    assert create_exclusively(path, b'{"suite": "a", "protocols": []}')
    assert not create_exclusively(path, b'{"suite": "b", "protocols": []}')
    assert json.loads(path.read_text())["suite"] == "a" and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("content", [b"", b"[]", b'{"protocols": 5}', b'{"suite": "t", "protocols": 5}',
                                     b'{"suite": 3, "protocols": []}', b"\xff\xfe"])
def test_a_malformed_binding_is_one_results_error_naming_the_file(results, content):
    ResultsDir(results).binding.write_bytes(content)
    with pytest.raises(ResultsError, match="_suite.json.*delete") as e:
        run(results)
    assert "\n" not in str(e.value)


def test_an_empty_binding_exits_2_with_one_line(results, suite_file):
    ResultsDir(results).binding.write_bytes(b"")
    line = one_error_line(bench_cli("run", str(suite_file), "--results", str(results), "--executor", "inline"))
    assert "_suite.json" in line and "empty" in line


# -- H: side files never crash a reader; a damaged result never counts as done --------------------

def _damage_run_records(results) -> None:
    runs = ResultsDir(results).runs
    (runs / "broken.json").write_text('{"run_id": "x", "cells": [')
    (runs / "fields.json").write_text(json.dumps({"run_id": "y", "cells": [{"cell_key": "zz"}]}))


def test_report_leaderboard_and_compare_skip_a_damaged_run_record_with_one_warning(results, tmp_path):
    _damage_run_records(results)
    rep = bench_cli("report", str(results), "--out", str(tmp_path / "rep"))
    assert rep.returncode == 0, rep.stderr
    assert len([w for w in warning_lines(rep) if "broken.json" in w]) == 1
    assert len([w for w in warning_lines(rep) if "fields.json" in w and "lacks" in w]) == 1
    board = bench_cli("leaderboard", str(results), "--out", str(tmp_path / "board"))
    assert board.returncode == 0 and len(warning_lines(board)) == 2, board.stderr
    cmp = bench_cli("compare", str(results), str(results))  # compare reads no run records
    assert cmp.returncode == 0 and warning_lines(cmp) == [], cmp.stderr


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_a_damaged_checkpoint_table_is_skipped_by_readers_and_rerun_by_run(results, finished, tmp_path, damage):
    key = adapted_key(results)
    path = ResultsDir(results).checkpoint(key)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        pd.DataFrame({"x": [1, 2]}).to_parquet(path)
    with pytest.warns(ResultsWarning, match=key):
        assert key not in set(read_checkpoints([results])["cell_key"])
    rep = bench_cli("report", str(results), "--out", str(tmp_path / "rep"), "--select", "source_val")
    assert "--metric" not in rep.stderr and len(warning_lines(rep)) == 1, rep.stderr
    cmp = bench_cli("compare", str(finished), str(results), "--select", "source_val")
    assert "Traceback" not in cmp.stderr and len(warning_lines(cmp)) == 1, cmp.stderr
    board = bench_cli("leaderboard", str(results), "--out", str(tmp_path / "board"))
    assert board.returncode == 0 and "--rule" not in board.stderr and len(warning_lines(board)) == 1, board.stderr

    summary = run(results)
    assert summary.already_done == 1 and summary.statuses["ok"] == 1  # that cell ran again
    assert any(key in w and "moved to" in w for w in summary.warnings)
    assert any(p.name.startswith(f"_checkpoints.{key}") for p in ResultsDir(results).quarantine_dir.iterdir())
    assert key in set(read_checkpoints([results])["cell_key"])


def _corrupt_a_data_page(path) -> None:
    """Overwrite the page header of the target_acc column: the footer still reads."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    offset = meta.row_group(0).column(names.index("target_acc")).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset:offset + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))


def test_a_result_with_a_corrupt_data_page_is_not_done_and_readers_skip_it(results, tmp_path):
    victim = ResultsDir(results).row(adapted_key(results))
    _corrupt_a_data_page(victim)
    assert pq.read_table(victim, columns=["cell_key", "status"]).num_rows == 1  # what run used to read
    with pytest.raises(OSError):
        pq.read_table(victim)
    with pytest.warns(ResultsWarning, match=victim.name):
        assert len(read_results(results)) == 1
    rep = bench_cli("report", str(results), "--out", str(tmp_path / "rep"))
    assert rep.returncode == 0 and len(warning_lines(rep)) == 1, rep.stderr

    summary = run(results)
    assert summary.already_done == 1 and summary.statuses["ok"] == 1
    assert any(p.name.startswith(victim.name) for p in ResultsDir(results).quarantine_dir.iterdir())
    assert len(pd.read_parquet(results)) == 2


# -- L2: folders and link loops in a results directory are moved aside ---------------------------

def test_a_folder_and_a_link_loop_are_quarantined_and_readers_ignore_them(results):
    (results / "old-run").mkdir()
    (results / "old-run" / "x.parquet").write_bytes(b"not parquet")
    (results / "loop.parquet").symlink_to(results / "loop.parquet")
    (results / "cycle").symlink_to(results)
    assert len(read_results(results)) == 2  # our readers ignore them before any run
    summary = run(results)
    assert summary.already_done == 2
    moved = {p.name.split(".")[0] for p in ResultsDir(results).quarantine_dir.iterdir()}
    assert {"old-run", "loop", "cycle"} <= moved
    assert (ResultsDir(results).quarantine_dir / next(
        p.name for p in ResultsDir(results).quarantine_dir.iterdir()
        if p.name.startswith("old-run") and p.is_dir()) / "x.parquet").exists()  # moved, not deleted
    assert len(pd.read_parquet(results)) == 2  # the README's recipe works again
    assert len(result_files(results)) == 2
