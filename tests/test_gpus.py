"""``bench run --gpus``: one worker per (GPU, slot), pinned with CUDA_VISIBLE_DEVICES. Exercised on
CPU with fake device ids: the pinning is an environment variable, so it can be seen without a GPU."""
import json

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.run.executors.process import gpu_slots
from bench.results import read_results
from bench.run.runner import run_suite
import tests.failing_strategies  # noqa: F401 - registers debug_crash here; workers import it as a plugin
from tests.sweep_helpers import make_suite, write_suite

PLUGIN = ("tests.failing_strategies",)


def test_slots_give_each_gpu_k_workers_round_robin():
    assert gpu_slots(["0", "1", "2", "3"]) == ["0", "1", "2", "3"]
    assert gpu_slots(["0", "1"], 2) == ["0", "1", "0", "1"]
    assert gpu_slots([" 3"], 3) == ["3", "3", "3"]
    with pytest.raises(ValueError, match="at least 1"):
        gpu_slots(["0"], 0)
    with pytest.raises(ValueError, match="comma"):
        gpu_slots(["0", ""])


def pinned(row) -> str | None:
    return json.loads(row.extra or "{}").get("cuda_visible_devices")


def test_two_pinned_workers_share_the_cells_and_a_crash_costs_one_cell(tmp_path):
    strategies = ["source_only", "full_finetune", {"name": "debug_crash", "how": "segv"},
                  "linear_probe", "target_only", {"name": "debug_crash", "how": "exit"}]
    suite = make_suite(strategies=strategies, source_steps=10, adapt_steps=4)
    summary = run_suite(suite, tmp_path / "res", executor="process", show_progress=False,
                        plugins=PLUGIN, executor_options={"gpus": ["0", "1"], "cells_per_gpu": 1})
    rows = read_results(tmp_path / "res")
    assert len(rows) == 6 and summary.statuses == {"ok": 4, "failed": 2}
    crashed = rows[rows.strategy == "debug_crash"]
    assert set(crashed.status) == {"failed"} and crashed.error.str.contains("worker process").all()
    ok = rows[rows.status == "ok"]
    # every finished cell ran in a worker pinned to one of the two ids, and both ids worked
    assert set(ok.apply(pinned, axis=1)) == {"0", "1"}
    # one source model for the six cells, though two workers wanted it at once (the lock)
    assert len(list((tmp_path / "res" / "_source_models").iterdir())) == 1
    # resume: a second run with the same workers finds nothing to do
    again = run_suite(suite, tmp_path / "res", executor="process", show_progress=False,
                      plugins=PLUGIN, executor_options={"gpus": ["0", "1"], "cells_per_gpu": 1})
    assert again.already_done == 6 and not again.statuses


def test_cli_checks_gpus_and_the_executor(tmp_path):
    suite = write_suite(tmp_path / "s.yaml", strategies=["source_only"])
    res = CliRunner().invoke(main, ["run", str(suite), "--gpus", "0", "--executor", "inline"])
    assert res.exit_code == 2 and "--executor process" in res.output
    res = CliRunner().invoke(main, ["run", str(suite), "--gpus", "0,,1"])
    assert res.exit_code == 2 and "comma" in res.output


def test_workers_run_cells_at_once_unpinned_and_a_crash_costs_one_cell(tmp_path):
    meet = tmp_path / "meet"
    meet.mkdir()
    strategies = [{"name": "debug_rendezvous", "dir": str(meet), "lr": lr} for lr in (0.01, 0.02)]
    strategies += [{"name": "debug_crash", "how": "exit"}, "full_finetune"]
    suite = make_suite(strategies=strategies, source_steps=10, adapt_steps=4)
    summary = run_suite(suite, tmp_path / "res", executor="process", show_progress=False,
                        plugins=PLUGIN, executor_options={"workers": 2})
    rows = read_results(tmp_path / "res")
    # the two rendezvous cells each saw the other's worker: two processes ran cells at once
    assert summary.statuses == {"ok": 3, "failed": 1}, rows[["strategy", "status", "error"]]
    assert len(list(meet.iterdir())) == 2
    assert rows[rows.status == "ok"].apply(pinned, axis=1).isna().all()  # no GPU pinning
    again = run_suite(suite, tmp_path / "res", executor="process", show_progress=False,
                      plugins=PLUGIN, executor_options={"workers": 2})
    assert again.already_done == 4 and not again.statuses


def test_cli_workers_refuses_gpus_and_other_executors(tmp_path):
    suite = write_suite(tmp_path / "s.yaml", strategies=["source_only"])
    res = CliRunner().invoke(main, ["run", str(suite), "--workers", "2", "--gpus", "0"])
    assert res.exit_code == 2 and "--cells-per-gpu" in res.output
    res = CliRunner().invoke(main, ["run", str(suite), "--workers", "2", "--executor", "inline"])
    assert res.exit_code == 2 and "--executor process" in res.output


ACCURACY = ["target_acc", "target_acc_before", "source_acc_before", "source_acc_after", "forgetting"]


def test_two_workers_give_the_rows_of_one_to_the_bit(tmp_path):
    """A cell's result depends on its key alone: which worker ran it, and beside which other cell,
    changes no accuracy (the source model, the linear-probe features and the seeds are per cell)."""
    suite = make_suite(strategies=["source_only", "full_finetune", "linear_probe", {"name": "dan"}],
                       seeds=[0, 1], source_steps=10, adapt_steps=6)
    for workers in (1, 2):
        run_suite(suite, tmp_path / f"w{workers}", executor="process", show_progress=False,
                  executor_options={"workers": workers})
    one, two = (read_results(tmp_path / f"w{w}").set_index("cell_key").sort_index() for w in (1, 2))
    assert len(one) == 8 and set(one.status) == {"ok"} and list(one.index) == list(two.index)
    assert one[ACCURACY].equals(two[ACCURACY])
