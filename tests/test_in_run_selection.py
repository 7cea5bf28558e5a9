"""In-run selection is a rule of the validators registry applied during the run (bench/cell/selection.py):
the same rules, scores and pick as report-time ``--select``, so over the same steps both keep the same
checkpoint; the retired ``target_entropy`` is refused with what to use instead."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.analysis.report.select import select
from bench.cell.run_cell import run_cell
from bench.plan.cells import expand
from bench.plan.suite import Suite
from bench.results import read_checkpoints, read_results
from bench.run.api import run
from bench.validators import VALIDATORS

pytestmark = pytest.mark.numeric


def moons_suite(selection: str, checkpoints: int = 0, strategies=("dann", "full_finetune")) -> dict:
    return {"name": f"insel-{selection}", "backbones": [{"name": "mlp", "kwargs": {"hidden": 16}}],
            "strategies": list(strategies), "pairs": ["moons -> moons-rot/30"], "label_budgets": [10],
            "seeds": [0, 1], "source": {"steps": 30, "batch_size": 32, "lr": 0.01},
            "adapt": {"steps": 20, "batch_size": 32, "lr": 0.03}, "selection": selection,
            "checkpoints": checkpoints, "threads": 1, "device": "cpu"}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def test_in_run_source_val_keeps_the_checkpoint_that_report_time_source_val_picks(tmp_path):
    """20 steps, 10 checkpoints: the table holds steps 2, 4, ..., 18 and the final weights, which are
    the in-run rule's own steps (every 20 // 10). The row then measured the very weights ``--select
    source_val`` picks from the table: same target and source accuracy, bit for bit."""
    run(moons_suite("source_val", checkpoints=10), results=tmp_path)
    rows, checkpoints = read_results(tmp_path), read_checkpoints([tmp_path])
    assert set(rows["status"]) == {"ok"} and set(rows["selection_rule"]) == {"source_val"}
    assert sorted(set(checkpoints["step"])) == list(range(2, 21, 2))
    picked = select(rows, checkpoints, "source_val").set_index("cell_key")
    recorded = rows.set_index("cell_key").loc[picked.index]
    np.testing.assert_array_equal(recorded["target_acc"], picked["target_acc"])
    np.testing.assert_array_equal(recorded["source_acc_after"], picked["source_acc_after"])
    # not every pick is the final weights, so the check says something
    assert (picked["selected_step"] < 20).any()


def test_last_records_the_final_checkpoint(tmp_path):
    run(moons_suite("last", checkpoints=10, strategies=("dann",)), results=tmp_path)
    rows, checkpoints = read_results(tmp_path), read_checkpoints([tmp_path])
    final = checkpoints[checkpoints["final"]].set_index("cell_key").loc[rows["cell_key"]]
    np.testing.assert_array_equal(rows["target_acc"], final["target_acc"])


@pytest.mark.parametrize("rule", ["entropy", "im"])
def test_a_label_free_validator_selects_in_the_run_and_is_recorded(tmp_path, rule):
    cell = expand(Suite.model_validate(moons_suite(rule, strategies=("pseudo_label",))))[0]
    row = run_cell(cell, tmp_path)
    assert row["status"] == "ok" and row["selection_rule"] == rule


def test_the_in_run_rules_are_the_validators_registry():
    for rule in ["last", *VALIDATORS.names()]:
        assert Suite.model_validate(moons_suite(rule)).selection == rule
    for rule, says in [("oracle", "report time only"), ("nonsense", "in-run rules: last, ")]:
        with pytest.raises(ValueError, match=says):
            Suite.model_validate(moons_suite(rule))


def test_the_retired_target_entropy_is_refused_with_what_to_use():
    with pytest.raises(ValueError) as err:
        Suite.model_validate(moons_suite("target_entropy"))
    message = str(err.value)
    assert "retired" in message and "--select entropy" in message and "keep their numbers" in message
