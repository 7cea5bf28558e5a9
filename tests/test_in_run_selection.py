"""In-run selection is a rule of the validators registry applied during the run (bench/cell/selection.py):
the same rules, scores and pick as report-time ``--select``, so over the same steps both keep the same
checkpoint; the retired ``target_entropy`` is refused with what to use instead."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from bench.analysis.report.select import select
from bench.backbones import BackboneSpec, create_model
from bench.cell.checkpoints import ProbeData
from bench.cell.run_cell import run_cell
from bench.cell.selection import LazyProbe
from bench.data.base import Split
from bench.plan.cells import expand
from bench.plan.suite import Suite
from bench.results import ResultsDir, read_checkpoints, read_results
from bench.results.pick import best_position
from bench.strategies.base import Hparams, Strategy
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


@pytest.mark.parametrize("rule", ["source_val", "dev"])  # dev reads source-val's logits and features
def test_in_run_selection_keeps_the_checkpoint_that_report_time_selection_picks(tmp_path, rule):
    """20 steps, 10 checkpoints: the table holds steps 2, 4, ..., 18 and the final weights, which are
    the in-run rule's own steps (every 20 // 10). The row then measured the very weights ``--select
    RULE`` picks from the table: same target and source accuracy, bit for bit, and its
    ``selection_step`` is the step picked."""
    run(moons_suite(rule, checkpoints=10), results=tmp_path)
    rows, checkpoints = read_results(tmp_path), read_checkpoints([tmp_path])
    assert set(rows["status"]) == {"ok"} and set(rows["selection_rule"]) == {rule}
    assert sorted(set(checkpoints["step"])) == list(range(2, 21, 2))
    picked = select(rows, checkpoints, rule).set_index("cell_key")
    recorded = rows.set_index("cell_key").loc[picked.index]
    np.testing.assert_array_equal(recorded["target_acc"], picked["target_acc"])
    np.testing.assert_array_equal(recorded["source_acc_after"], picked["source_acc_after"])
    np.testing.assert_array_equal(recorded["selection_step"].astype(float), picked["selected_step"])
    if rule == "source_val":  # not every pick is the final weights, so the check says something
        assert (picked["selected_step"] < 20).any()
    _check_selection_tables(tmp_path, rows, checkpoints, rule)


def _check_selection_tables(results, rows, checkpoints, rule):
    """The in-run rule's own table: one row per check (steps 2, ..., 20, then the final weights), its
    scores those of the checkpoint table where both ran, and the one kept check the row's step."""
    for r in rows.itertuples():
        table = pd.read_parquet(ResultsDir(results).selection_table(r.cell_key))
        assert table["step"].tolist() == list(range(2, 21, 2)) + [20]
        assert table["final"].tolist() == [False] * 10 + [True] and (table["cell_key"] == r.cell_key).all()
        assert table["kept"].sum() == 1 and table.loc[table["kept"], "step"].item() == r.selection_step
        assert table["kept"].idxmax() == best_position(table[f"score_{rule}"].to_numpy())
        mine = checkpoints[checkpoints["cell_key"] == r.cell_key]
        shared = mine[~mine["final"]].merge(table[~table["final"]], on="step", suffixes=("_ck", ""))
        assert len(shared) == 9
        np.testing.assert_array_equal(shared[f"score_{rule}_ck"], shared[f"score_{rule}"])
        final_ck, final_sel = mine[mine["final"]], table[table["final"]]
        np.testing.assert_array_equal(final_ck[f"score_{rule}"], final_sel[f"score_{rule}"])


def test_last_records_the_final_checkpoint(tmp_path):
    run(moons_suite("last", checkpoints=10, strategies=("dann",)), results=tmp_path)
    rows, checkpoints = read_results(tmp_path), read_checkpoints([tmp_path])
    final = checkpoints[checkpoints["final"]].set_index("cell_key").loc[rows["cell_key"]]
    np.testing.assert_array_equal(rows["target_acc"], final["target_acc"])
    # no in-run selection: no kept step, no selection table
    assert rows["selection_step"].isna().all() and not ResultsDir(tmp_path).selection_tables.exists()


def test_without_checkpoints_the_in_run_rule_still_records_its_checks(tmp_path):
    row = run_cell(expand(Suite.model_validate(moons_suite("entropy", strategies=("dann",))))[0], tmp_path)
    table = pd.read_parquet(ResultsDir(tmp_path).selection_table(row["cell_key"]))
    assert table["step"].tolist() == list(range(2, 21, 2)) + [20]
    assert table.loc[table["kept"], "step"].item() == row["selection_step"]
    assert table["kept"].idxmax() == best_position(table["score_entropy"].to_numpy())


class Tempered(Strategy):
    """A strategy with its own predict: its predictions are not the head of the features."""

    def predict(self, x):
        return super().predict(x) / 2.0


@pytest.mark.parametrize("strategy_cls", [Strategy, Tempered])
def test_the_lazy_probe_runs_each_input_once_and_gives_the_probes_bits(strategy_cls):
    """Whatever order a validator reads a probe in, each input is run once: with the default
    predict one backbone pass per batch gives logits and features; with its own predict the
    predictions and the features are one pass each. The tensors are those of ``ProbeData.probe``."""
    torch.manual_seed(0)
    model = create_model(BackboneSpec(name="small_cnn"), num_classes=10, in_chans=1).eval()
    x = torch.randint(0, 256, (600, 1, 8, 8), dtype=torch.uint8)  # 3 batches of 256
    split = Split(x, torch.randint(0, 10, (600,)))
    domain = SimpleNamespace(train=split, val=split)
    data = ProbeData(strategy_cls(model, None, Hparams()), domain, domain, split, "cpu", seed=0)
    full = data.probe()
    passes = []
    model.backbone.register_forward_hook(lambda *_: passes.append(1))
    lazy = LazyProbe(data)
    for name in ("source_val_feats", "source_val_logits", "target_logits", "target_feats"):
        assert torch.equal(getattr(lazy, name), getattr(full, name)), name
    # 3 batches each: once per batch per input (twice with its own predict: features, predictions)
    assert len(passes) == 2 * 3 * (1 if strategy_cls is Strategy else 2)


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
