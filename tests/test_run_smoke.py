"""The smoke suite through the real CLI: schema and values of its Parquet, resume, report."""
import json
import math

import pandas as pd
import pyarrow.dataset as ds
import pytest

from bench.results import SCHEMA, SCHEMA_VERSION, VERSION_KEY, result_files
from tests.conftest import REPO, bench_cli

SUPERVISED = {"target_only", "linear_probe", "full_finetune", "gradual_unfreeze", "discriminative_lr"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    results = tmp_path_factory.mktemp("smoke") / "results"
    out = bench_cli("run", "suites/smoke.yaml", "--results", str(results), "--no-progress")
    assert out.returncode == 0, out.stdout + out.stderr
    return results, out


def test_one_parquet_per_cell_readable_as_one_dataset(smoke):
    results, _ = smoke
    files = result_files(results)
    dataset = ds.dataset(results, format="parquet")
    assert dataset.count_rows() == len(files) == 2 * 6 * 2  # backbones x strategies x budgets
    assert not list(results.glob(".*.tmp"))
    table = dataset.to_table()
    assert set(SCHEMA.names) <= set(table.schema.names)
    for f in files[:3]:
        import pyarrow.parquet as pq

        assert pq.read_schema(f).metadata[VERSION_KEY] == str(SCHEMA_VERSION).encode()


def test_values_keep_to_the_spec(smoke):
    df = pd.read_parquet(smoke[0])
    skipped = df[df.status == "skipped"]
    assert set(skipped.strategy) == SUPERVISED and set(skipped.label_budget) == {"0"}
    assert all("needs target labels" in e for e in skipped.error)
    ok = df[df.status == "ok"]
    assert len(ok) + len(skipped) == len(df), df[~df.status.isin(["ok", "skipped"])].error.tolist()
    for col in ("target_acc", "target_acc_before", "source_acc_before", "source_acc_after"):
        assert ok[col].between(0, 100).all(), col
    assert (ok.forgetting - (ok.source_acc_before - ok.source_acc_after)).abs().max() < 1e-9
    assert (ok.target_gain - (ok.target_acc - ok.target_acc_before)).abs().max() < 1e-9
    assert (ok.trainable_params <= ok.total_params).all() and (ok.total_params > 0).all()
    so = ok[ok.strategy == "source_only"]
    assert (so.trainable_params == 0).all() and (so.forgetting == 0).all() and (so.steps == 0).all()
    assert (so.target_acc == so.target_acc_before).all()
    lp = ok[ok.strategy == "linear_probe"]
    assert (lp.trainable_params < lp.total_params / 10).all()  # only the head trains
    trained = ok[ok.strategy != "source_only"]
    assert (trained.train_samples_per_s > 0).all() and (trained.steps > 0).all()
    assert (ok.infer_samples_per_s > 0).all()
    assert (ok.peak_mem_allocated_bytes > 0).all() and set(ok.mem_kind) == {"cpu_rss"}
    assert (ok.adapt_wall_s >= 0).all() and (ok.source_wall_s > 0).all()
    for col in ("run_id", "git_sha", "device_name", "host", "cell_key"):
        assert df[col].str.len().gt(0).all(), col
    assert "torch" in json.loads(df.package_versions.iloc[0])
    assert (df.finished_at >= df.started_at).all()
    assert set(df.selection_rule) == {"last"}
    assert all(isinstance(json.loads(h), dict) for h in df.hparams)


def test_rerun_runs_nothing_and_touches_nothing(smoke):
    results, _ = smoke
    before = {p.name: p.stat().st_mtime_ns for p in result_files(results)}
    out = bench_cli("run", "suites/smoke.yaml", "--results", str(results), "--no-progress")
    assert out.returncode == 0, out.stderr
    assert f"{len(before)} already done" in out.stdout and "nothing to run" in out.stdout
    assert {p.name: p.stat().st_mtime_ns for p in result_files(results)} == before


def test_resume_after_losing_cells_reruns_only_those(smoke, tmp_path):
    import shutil

    results = tmp_path / "copy"
    shutil.copytree(smoke[0], results)
    files = result_files(results)
    for f in files[:2]:
        f.unlink()
    (results / ".deadbeef.1234.tmp").write_bytes(b"half a file")  # left by a crash
    out = bench_cli("run", "suites/smoke.yaml", "--results", str(results), "--no-progress")
    assert out.returncode == 0, out.stderr
    assert f"{len(files) - 2} already done" in out.stdout
    assert len(result_files(results)) == len(files) and not list(results.glob(".*.tmp"))


def test_dry_run_prints_the_grid_and_runs_nothing(tmp_path):
    out = bench_cli("run", "suites/smoke.yaml", "--results", str(tmp_path / "r"), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "24 cells, 0 done" in out.stdout and "gradual_unfreeze" in out.stdout
    assert not result_files(tmp_path / "r")


def test_report_table(smoke, tmp_path):
    out = bench_cli("report", str(smoke[0]), "--out", str(tmp_path / "rep"))
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "rep" / "README.md").read_text()
    assert "synth-digits->digits" in md and "Avg" in md and "full_finetune" in md
    assert list((tmp_path / "rep" / "tables").glob("*.csv"))


def test_list_and_help_are_fast_paths():
    out = bench_cli("list")
    assert out.returncode == 0
    for name in ("small_cnn", "timm/*", "linear_probe", "synth-digits", "digits-c/*"):
        assert name in out.stdout
    for cmd in ([], ["run"], ["report"], ["list"]):
        assert bench_cli(*cmd, "--help").returncode == 0
