"""`bench run --log mlflow|tensorboard|wandb` (issue 23 item 1): each cell goes to the tracker as it
finishes, as the same run `bench export` makes of it. A tiny real suite runs twice into one
results directory (two cells, then the same suite with a second seed: two more cells, one cell
already done); the tracker's local store, read back with its own reader, holds each row once with
its numbers, and `bench export` afterwards finds every run and adds nothing.

Local stores only: MLflow's SQLite store under tmp_path, TensorBoard event files, W&B offline."""
from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.results import read_results
from tests.conftest import REPO

SUITE = """name: log-test
backbones: [{name: mlp, kwargs: {hidden: 16}}]
strategies: [source_only, dann]
pairs: [moons -> moons-rot/30]
label_budgets: [5]
seeds: SEEDS
source: {steps: 20, batch_size: 32, lr: 0.01}
adapt: {steps: 8, batch_size: 32, lr: 0.003}
checkpoints: 4
threads: 1
device: cpu
"""
PIP = {"mlflow": ("mlflow", "sqlalchemy"), "tensorboard": ("tensorboard",), "wandb": ("wandb",)}


def bench(*args: str):
    result = CliRunner().invoke(main, list(map(str, args)))
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def mlflow_cells(store):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    exp = client.get_experiment_by_name("log-test").experiment_id
    runs = client.search_runs([exp], max_results=100)
    cells = [r for r in runs if r.data.tags["bench.kind"] == "cell"]
    parents = {r.info.run_id: r.data.tags["bench.run_id"] for r in runs if r.data.tags["bench.kind"] == "suite-run"}
    assert all(parents[r.data.tags["mlflow.parentRunId"]] == r.data.tags["bench.run_id"] for r in cells)
    return len(parents), {(r.data.tags["bench.run_id"], r.data.tags["bench.cell_key"]):
                          (r.data.metrics["target_acc"], len(client.get_metric_history(r.info.run_id, "checkpoint/target_acc")))
                          for r in cells}


def tensorboard_cells(store):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    parents = [p for p in (store / "log-test").iterdir() if p.is_dir()]
    found = {}
    for parent in parents:
        for folder in (f for f in parent.iterdir() if f.is_dir()):
            acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
            acc.Reload()
            curve = acc.Scalars("checkpoint/target_acc") if "checkpoint/target_acc" in acc.Tags()["scalars"] else []
            [final] = acc.Scalars("target_acc")
            found[(parent.name, folder.name.rsplit(".", 1)[1])] = (final.value, len(curve))
    assert len(list(store.rglob("events.out.tfevents.*"))) == len(parents) + len(found)
    return len(parents), found


def wandb_cells(store):
    from tests.test_export import wandb_run

    runs = [wandb_run(f) for f in sorted((store / "wandb").glob("offline-run-*"))]
    cells = [(run, config, summary, history) for run, config, summary, history, _ in runs if run.job_type == "cell"]
    found = {(run.run_group, config["provenance"]["cell_key"]):
             (summary["target_acc"], sum("checkpoint/target_acc" in h for h in history))
             for run, config, summary, history in cells}
    assert len(found) == len(cells)  # no cell twice
    return len(runs) - len(cells), found


READ = {"mlflow": mlflow_cells, "tensorboard": tensorboard_cells, "wandb": wandb_cells}


@pytest.mark.parametrize("tracker", ["mlflow", "tensorboard", "wandb"])
def test_each_cell_is_logged_once_as_it_finishes_and_export_finds_them(tracker, tmp_path, monkeypatch):
    for package in PIP[tracker]:
        pytest.importorskip(package, reason=f"bench run --log {tracker}: pip install 'transfer-bench[{tracker}]'")
    monkeypatch.chdir(tmp_path)  # MLflow puts a SQLite store's artifacts under ./mlruns
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    store = f"sqlite:///{tmp_path / 'mlflow.db'}" if tracker == "mlflow" else tmp_path / "store"
    results = tmp_path / "r"
    for seeds in ("[0]", "[0, 1]"):
        suite = tmp_path / "suite.yaml"
        suite.write_text(SUITE.replace("SEEDS", seeds))
        out = bench("run", suite, "--results", results, "--executor", "inline", "--no-progress",
                    "--log", tracker, "--log-to", store)
        assert f"{tracker}: 2 cell run(s) logged as they finished" in out.stdout
    rows = read_results(results)
    assert len(rows) == 4 and rows["run_id"].nunique() == 2
    parents, cells = READ[tracker](tmp_path / "store" if tracker != "mlflow" else store)
    assert parents == 2
    curves = {"dann": 4, "source_only": 1}  # checkpoints: 4 steps of dann, the final one of source_only
    assert cells == {(r["run_id"], r["cell_key"]): (pytest.approx(r["target_acc"], rel=1e-6), curves[r["strategy"]])
                     for r in rows.to_dict("records")}
    again = bench("export", tracker, results, "--to", store)
    assert "0 suite run(s) and 0 cell run(s) exported, 2 and 4 already there" in again.stdout


def test_a_missing_tracker_stops_the_run_before_any_cell_with_its_pip_install(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("SEEDS", "[0]"))
    code = ("import sys; sys.modules['mlflow'] = None\nfrom bench.cli import main\n"
            f"main(['run', {str(suite)!r}, '--results', {str(tmp_path / 'r')!r}, '--log', 'mlflow'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: bench run --log mlflow needs the package 'mlflow', which is not installed. "
        "Install it with: pip install 'transfer-bench[mlflow]'"]
    assert not (tmp_path / "r").exists()
