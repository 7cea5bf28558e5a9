"""`bench export mlflow|tensorboard|wandb` (issue 23 item 1): a real tiny suite run twice (two suite
runs, four cells, checkpoint curves) is exported to each tracker's local store, read back with the
tracker's own reader, and compared with the Parquet rows; a second export adds nothing.

Local stores only: MLflow's SQLite store under tmp_path, TensorBoard event files, W&B offline."""
from __future__ import annotations

import json
import math
import struct
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bench.analysis.export.runs import METRIC_COLUMNS
from bench.cli import main
from bench.results import read_checkpoints, read_results, read_run_records
from tests.conftest import REPO

#: the row columns each tracker must show for a cell, compared value by value
PARAMS = ("backbone", "strategy", "source_domain", "target_domain", "label_budget", "seed", "trial")
TAGS = ("git_sha", "protocol_hash", "device_name", "status", "cell_key", "run_id")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two suite runs into one directory: seed 0, then the same suite with seeds 0 and 1."""
    import torch

    from bench.plan.suite import Suite
    from bench.run.runner import run_suite

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("export")
    for seeds in ([0], [0, 1]):
        suite = Suite(name="export-test", backbones=[{"name": "mlp", "kwargs": {"hidden": 16}}],
                      strategies=["source_only", "dann"], pairs=["moons -> moons-rot/30"], label_budgets=[5],
                      seeds=seeds, source={"steps": 20, "batch_size": 32, "lr": 0.01},
                      adapt={"steps": 8, "batch_size": 32, "lr": 0.003}, checkpoints=4, threads=1, device="cpu")
        run_suite(suite, root / "r", show_progress=False, executor="inline")
    report = root / "report"
    (report / "plots").mkdir(parents=True)
    (report / "README.md").write_text("# a report\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    (report / "plots" / "x.png").write_bytes(b"\x89PNG not really")
    return root / "r", report


def rows_of(results_dir):
    rows = read_results(results_dir)
    assert len(rows) == 4 and rows["run_id"].nunique() == 2 and set(rows["status"]) == {"ok"}
    return rows.to_dict("records")


def curve(results_dir, cell_key, column):
    """A cell's checkpoint curve from its Parquet table: four points for dann, the final one only for
    source_only (no adaptation steps)."""
    ckpt = read_checkpoints([results_dir])
    ckpt = ckpt[ckpt["cell_key"] == cell_key].sort_values("step")
    points = [(int(s), float(v)) for s, v in zip(ckpt["step"], ckpt[column])]
    strategy = read_results(results_dir).set_index("cell_key").loc[cell_key, "strategy"]
    assert len(points) == (4 if strategy == "dann" else 1)
    return points


def finite_metrics(row):
    out = {c: float(row[c]) for c in METRIC_COLUMNS
           if row[c] is not None and not (isinstance(row[c], float) and math.isnan(row[c]))}
    assert {"target_acc", "source_acc_after", "forgetting", "target_gain", "infer_samples_per_s",
            "peak_mem_allocated_bytes", "logme", "leep", "nce", "hscore"} <= set(out)
    return out


def export(*args):
    result = CliRunner().invoke(main, ["export", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def test_tensorboard_event_files_read_back_equal_the_rows(results, tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard export: pip install 'transfer-bench[tensorboard]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    results_dir, report = results
    logdir = tmp_path / "tb"
    out = export("tensorboard", results_dir, "--to", logdir, "--report", report)
    assert "2 suite run(s) and 4 cell run(s) exported" in out
    assert len(list(logdir.rglob("events.out.tfevents.*"))) == 6  # 2 suite runs, 4 cells

    def read(folder):
        acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        return acc

    def table(acc, tag):
        cells = tensor_util.make_ndarray(acc.Tensors(tag)[0].tensor_proto)
        return {k.decode(): v.decode() for k, v in cells}

    for row in rows_of(results_dir):
        [folder] = (logdir / "export-test" / row["run_id"]).glob(f"*.{row['cell_key']}")
        acc = read(folder)
        for name, value in finite_metrics(row).items():
            [point] = acc.Scalars(name)
            assert point.value == pytest.approx(value, rel=1e-6) and point.step == row["steps"]
        got = [(e.step, e.value) for e in acc.Scalars("checkpoint/target_acc")] \
            if "checkpoint/target_acc" in acc.Tags()["scalars"] else []
        assert got == [(s, pytest.approx(v, rel=1e-6)) for s, v in curve(results_dir, row["cell_key"], "target_acc")]
        info = plugin_data_pb2.HParamsPluginData.FromString(
            acc.SummaryMetadata("_hparams_/session_start_info").plugin_data.content).session_start_info
        hparams = {k: v.string_value or v.number_value for k, v in info.hparams.items()}
        assert {k: hparams[k] for k in PARAMS} == {k: row[k] for k in PARAMS}
        tags = table(acc, "tags")
        assert {k: tags[k] for k in TAGS} == {k: str(row[k]) for k in TAGS}
        assert tags["package.torch"] == json.loads(row["package_versions"])["torch"]
    for record in read_run_records(results_dir):
        parent = read(logdir / "export-test" / record["run_id"])
        assert table(parent, "tags")["git_sha"] == record["git_sha"]
        assert table(parent, "suite")["adapt.steps"] == "8"
        assert "| 1 | 2 |" in tensor_util.make_ndarray(parent.Tensors("report")[0].tensor_proto).item().decode()
        assert (logdir / "export-test" / record["run_id"] / "report" / "plots" / "x.png").is_file()
    again = export("tensorboard", results_dir, "--to", logdir, "--report", report)
    assert "0 suite run(s) and 0 cell run(s) exported, 2 and 4 already there" in again
    assert len(list(logdir.rglob("events.out.tfevents.*"))) == 6  # the parents' rewritten, no cell twice


def test_mlflow_sqlite_store_reads_back_equal_to_the_rows(results, tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="MLflow export: pip install 'transfer-bench[mlflow]'")
    pytest.importorskip("sqlalchemy", reason="MLflow's SQLite store: pip install 'transfer-bench[mlflow]'")
    from mlflow import MlflowClient

    results_dir, report = results
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # MLflow's default for a SQLite store's artifacts: ./mlruns
    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    out = export("mlflow", results_dir, "--to", uri, "--report", report)
    assert "2 suite run(s) and 4 cell run(s) exported" in out
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("export-test").experiment_id
    runs = client.search_runs([exp], max_results=100)
    assert len(runs) == 6
    parents = {r.data.tags["bench.run_id"]: r for r in runs if r.data.tags["bench.kind"] == "suite-run"}
    cells = {(r.data.tags["bench.run_id"], r.data.tags["bench.cell_key"]): r
             for r in runs if r.data.tags["bench.kind"] == "cell"}
    for row in rows_of(results_dir):
        run = cells[(row["run_id"], row["cell_key"])]
        assert run.data.tags["mlflow.parentRunId"] == parents[row["run_id"]].info.run_id
        assert {k: run.data.params[k] for k in PARAMS} == {k: str(row[k]) for k in PARAMS}
        assert {k: run.data.tags[k] for k in TAGS} == {k: str(row[k]) for k in TAGS}
        assert run.data.tags["package.torch"] == json.loads(row["package_versions"])["torch"]
        metrics = finite_metrics(row)
        assert {k: run.data.metrics[k] for k in metrics} == metrics
        history = client.get_metric_history(run.info.run_id, "checkpoint/target_acc")
        assert sorted((m.step, m.value) for m in history) == curve(results_dir, row["cell_key"], "target_acc")
    for record in read_run_records(results_dir):
        parent = parents[record["run_id"]]
        assert parent.data.tags["git_sha"] == record["git_sha"] and parent.data.params["adapt.steps"] == "8"
        listed = {a.path for a in client.list_artifacts(parent.info.run_id)}
        assert {"suite.json", "report"} <= listed
        assert {a.path for a in client.list_artifacts(parent.info.run_id, "report")} == \
            {"report/README.md", "report/plots"}
    again = export("mlflow", results_dir, "--to", uri, "--report", report)
    assert "0 suite run(s) and 0 cell run(s) exported, 2 and 4 already there" in again
    assert len(client.search_runs([exp], max_results=100)) == 6
    # the artifacts sit beside the database, nothing in the folder the command ran in
    assert list(elsewhere.iterdir()) == []
    assert (store / "mlruns" / "export-test").is_dir()


def wandb_records(path):
    """The records of a W&B run file (``run-<id>.wandb``): W&B's LevelDB-style log of protobuf
    records (a 7-byte header, then 32 KiB blocks of chunks: crc32, length, type FULL/FIRST/MIDDLE/LAST).
    wandb 0.31 no longer ships a Python reader for it, so this is one."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, buf = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        buf += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4) and buf:  # FULL or LAST: a record is complete
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buf)
            buf = b""
            yield record


def wandb_run(folder):
    """(run record, config, summary, history rows, artifact names) of one offline run folder."""
    [path] = folder.glob("run-*.wandb")
    run, config, summary, history, artifacts = None, {}, {}, [], []
    key = lambda item: item.key or ".".join(item.nested_key)  # noqa: E731
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            config.update({key(u): json.loads(u.value_json) for u in record.run.config.update})
        elif kind == "config":
            config.update({key(u): json.loads(u.value_json) for u in record.config.update})
        elif kind == "summary":
            summary.update({key(u): json.loads(u.value_json) for u in record.summary.update})
        elif kind == "history":
            history.append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "artifact":
            artifacts.append((record.artifact.name, sorted(c.path for c in record.artifact.manifest.contents)))
    return run, config, summary, history, artifacts


def test_wandb_offline_run_files_read_back_equal_to_the_rows(results, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="W&B export: pip install 'transfer-bench[wandb]'")
    results_dir, report = results
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    out = export("wandb", results_dir, "--to", tmp_path, "--report", report)
    assert "2 suite run(s) and 4 cell run(s) exported" in out
    folders = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(folders) == 6
    runs = {wandb_run(f)[0].run_id: wandb_run(f) for f in folders}
    for row in rows_of(results_dir):
        run, config, summary, history, _ = runs[f"{row['run_id']}-{row['cell_key']}"]
        assert run.run_group == row["run_id"] and run.job_type == "cell" and run.project == "export-test"
        assert {k: config[k] for k in PARAMS} == {k: row[k] for k in PARAMS}
        assert {k: config["provenance"][k] for k in TAGS} == {k: str(row[k]) for k in TAGS}
        metrics = finite_metrics(row)
        assert {k: summary[k] for k in metrics} == pytest.approx(metrics)
        got = [(h["_step"], h["checkpoint/target_acc"]) for h in history if "checkpoint/target_acc" in h]
        assert got == curve(results_dir, row["cell_key"], "target_acc")
    for record in read_run_records(results_dir):
        run, config, _, _, artifacts = runs[record["run_id"]]
        assert run.job_type == "suite-run" and config["provenance"]["git_sha"] == record["git_sha"]
        assert config["adapt.steps"] == 8
        assert artifacts == [(f"report-{record['run_id']}", ["README.md", "plots/x.png"])]
    again = export("wandb", results_dir, "--to", tmp_path, "--report", report)
    assert "0 suite run(s) and 0 cell run(s) exported, 2 and 4 already there" in again
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 6


@pytest.mark.parametrize("tracker", ["mlflow", "tensorboard", "wandb"])
def test_a_missing_tracker_is_one_error_line_with_its_pip_install(results, tracker):
    """The package made unimportable the way Python itself marks it (``sys.modules[name] = None``)."""
    code = (f"import sys; sys.modules[{tracker!r}] = None\nfrom bench.cli import main\n"
            f"main(['export', {tracker!r}, {str(results[0])!r}])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"error: bench export {tracker} needs the package {tracker!r}, which is not installed. "
        f"Install it with: pip install 'transfer-bench[{tracker}]'"]
