"""Bad inputs: each gives a clear message naming what was expected, and nothing finished is lost."""
from __future__ import annotations

import resource
import signal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.results import SCHEMA, SCHEMA_VERSION, ResultsError, read_results, result_files, write_row
from bench.run.runner import run_suite
from bench.plan.suite import SuiteError, load_suite
from bench.plan.cells import expand
from tests.sweep_helpers import make_suite, tiny_suite, write_suite


@pytest.fixture(autouse=True)
def bench_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_malformed_yaml_says_where(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstrategies: [source_only\nbackbones: small_cnn\n")
    with pytest.raises(SuiteError, match="is not valid YAML"):
        load_suite(bad)
    res = CliRunner().invoke(main, ["run", str(bad), "--results", str(tmp_path / "r")])
    assert res.exit_code == 2 and "error:" in res.output and "not valid YAML" in res.output


@pytest.mark.parametrize("field,value,expected", [
    ("strategies", ["full_finetun"], "Did you mean 'full_finetune'"),
    ("backbones", ["smal_cnn"], "Did you mean 'small_cnn'"),
    ("pairs", ["digts -> digits"], "Did you mean 'digits'"),
])
def test_misspelt_names_get_a_close_match(tmp_path, field, value, expected):
    spec = tiny_suite(strategies=["source_only"])
    spec[field] = value
    path = tmp_path / "s.yaml"
    import yaml

    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SuiteError, match=expected):
        load_suite(path)


def test_a_bad_field_value_names_the_field_and_the_allowed_values(tmp_path):
    import yaml

    spec = tiny_suite(strategies=["source_only"])
    spec["adapt"]["optimizer"] = "adm"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(SuiteError) as err:
        load_suite(tmp_path / "s.yaml")
    msg = str(err.value)
    assert "adapt.optimizer" in msg and "'adam'" in msg and "'sgd'" in msg


def test_an_unwritable_results_directory_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ResultsError, match="not writable.*--results"):
        run_suite(make_suite(strategies=["source_only"]), blocker / "res", executor="inline", show_progress=False)
    suite_file = write_suite(tmp_path / "s.yaml", strategies=["source_only"])
    res = CliRunner().invoke(main, ["run", str(suite_file), "--results", str(blocker / "res")])
    assert res.exit_code == 2 and "not writable" in res.output


def test_a_full_disk_during_a_write_leaves_no_partial_file_and_says_what_to_do(tmp_path):
    suite = make_suite(strategies=["source_only", "full_finetune"])
    res = tmp_path / "res"
    run_suite(suite, res, executor="inline", show_progress=False)  # one finished cell must survive
    before = {p: p.read_bytes() for p in result_files(res)}
    from bench.cell.run_cell import base_row

    row = base_row(expand(suite)[0], "r", "cpu")
    row.update(cell_key="f" * 16, status="ok", finished_at=pd.Timestamp.now(tz="UTC"))
    # a real write failure from the kernel: a file-size limit below one Parquet row (EFBIG, like ENOSPC)
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, old_limit[1]))
    try:
        with pytest.raises(ResultsError, match="disk is full.*run the same command again"):
            write_row(res, row)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert not list(res.glob(".*.tmp")) and not (res / f"{'f' * 16}.parquet").exists()
    assert {p: p.read_bytes() for p in result_files(res)} == before


def test_written_files_carry_the_schema_version(tmp_path):
    run_suite(make_suite(strategies=["source_only"]), tmp_path, executor="inline", show_progress=False)
    meta = pq.read_schema(result_files(tmp_path)[0]).metadata
    assert int(meta[b"transfer_bench_schema_version"]) == SCHEMA_VERSION


def test_readers_refuse_unknown_versions_and_skip_foreign_files_with_what_to_do(tmp_path):
    from bench.errors import ResultsWarning

    newer = pa.table({"cell_key": ["a"]}).replace_schema_metadata({b"transfer_bench_schema_version": b"99"})
    pq.write_table(newer, tmp_path / "a.parquet")
    with pytest.raises(ResultsError, match="upgrade transfer-bench"):  # someone's newer results
        read_results(tmp_path)
    (tmp_path / "a.parquet").unlink()
    # a foreign or damaged file is no result: skipped with a warning (issue 26 H), never a crash
    pq.write_table(pa.table({"x": [1]}), tmp_path / "b.parquet")
    with pytest.warns(ResultsWarning, match="not a transfer-bench results file.*bench run"):
        assert read_results(tmp_path).empty
    (tmp_path / "b.parquet").write_bytes(b"PAR1 truncated")
    with pytest.warns(ResultsWarning, match="not a readable results file.*bench run"):
        assert read_results(tmp_path).empty


def test_files_from_before_a_column_was_added_stay_readable(tmp_path):
    run_suite(make_suite(strategies=["source_only", "full_finetune"]), tmp_path, executor="inline",
              show_progress=False)
    old = result_files(tmp_path)[0]
    table = pq.read_table(old).drop_columns(["extra", "adapter_bytes"])  # as an older writer wrote it
    pq.write_table(table.replace_schema_metadata(SCHEMA.metadata), old)
    df = read_results(tmp_path)
    assert len(df) == 2 and df["extra"].isna().sum() == 1 and set(df.columns) >= {f.name for f in SCHEMA}
