"""A results directory holds one suite under one protocol, reads as one Parquet dataset whatever
else is dropped into it, and --dry-run reports only readable results as done."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.results import ResultsError, result_files
from bench.run.runner import run_suite
from bench.plan.suite import Suite
from tests.conftest import bench_cli


def tiny(name="t", steps=2, **kw) -> Suite:
    return Suite(name=name, backbones=[{"name": "mlp", "kwargs": {"hidden": 8}}],
                 strategies=["source_only"], pairs=["moons -> moons-rot/30"], label_budgets=[0],
                 seeds=[0], source={"steps": 3, "batch_size": 32},
                 adapt={"steps": steps, "batch_size": 32}, threads=1, **kw)


def run(suite: Suite, out):
    return run_suite(suite, out, device="cpu", show_progress=False, executor="inline")


def test_a_second_suite_or_protocol_is_refused(tmp_path):
    run(tiny(), tmp_path)
    with pytest.raises(ResultsError, match="holds results of suite 't'"):
        run(tiny(name="other"), tmp_path)
    with pytest.raises(ResultsError, match="another protocol"):
        run(tiny(steps=5), tmp_path)
    assert run(tiny(), tmp_path).already_done == 1  # the same suite resumes as before
    assert run(tiny(steps=5), tmp_path / "elsewhere").statuses["ok"] == 1


def test_a_stray_file_is_moved_aside_so_the_directory_reads_as_parquet(tmp_path):
    run(tiny(), tmp_path)
    (tmp_path / "notes.txt").write_text("my notes")
    summary = run(tiny(), tmp_path)
    assert any("notes.txt" in w for w in summary.warnings)
    assert (tmp_path / "_quarantine").is_dir() and not (tmp_path / "notes.txt").exists()
    assert len(pd.read_parquet(tmp_path)) == 1  # the README's recipe


def test_dry_run_does_not_count_a_truncated_file_as_done(tmp_path):
    suite_file = tmp_path / "s.yaml"
    suite_file.write_text(tiny().model_dump_json())  # JSON is YAML
    out = tmp_path / "r"
    run(tiny(), out)
    (path,) = result_files(out)
    path.write_bytes(path.read_bytes()[:100])  # truncated, e.g. by a copy
    dry = bench_cli("run", str(suite_file), "--results", str(out), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "1 cells, 0 done" in dry.stdout and "will run again" in dry.stderr
    assert path.exists()  # --dry-run only looks


def test_an_impossible_label_budget_is_refused_before_any_cell(tmp_path):
    from bench.errors import SuiteError

    with pytest.raises(SuiteError, match="more than target domain moons-rot/30 has"):
        run(tiny().model_copy(update={"label_budgets": [100_000]}), tmp_path)
    assert result_files(tmp_path) == []
