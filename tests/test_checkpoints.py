"""Checkpoints (bench/cell/checkpoints.py): K evenly spaced validator evaluations per cell, written
before the row, off the training's RNG; a kill -9 of a search suite leaves each trial-cell once."""
from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from bench.cell.checkpoints import checkpoint_path, checkpoint_steps
from bench.analysis.report.rules import RULES, score_column
from bench.results import read_results, result_files
from bench.run.runner import run_suite
from bench.plan.suite import Suite, load_suite
from bench.plan.cells import expand
from tests.sweep_helpers import write_suite

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)


def moons_suite(strategies, budgets=(0,), checkpoints=4, trials=1, target_val=0, steps=20) -> Suite:
    return Suite(name="ckpt-test", backbones=[{"name": "mlp", "kwargs": {"hidden": 16}}],
                 strategies=strategies, pairs=["moons -> moons-rot/30"], label_budgets=list(budgets),
                 seeds=[0], source={"steps": 30, "batch_size": 32, "lr": 0.01},
                 adapt={"steps": steps, "batch_size": 32, "lr": 0.003}, checkpoints=checkpoints,
                 trials=trials, target_val=target_val, threads=1, device="cpu")


def test_checkpoint_steps_are_evenly_spaced_and_end_before_the_final_one():
    assert checkpoint_steps(20, 4) == [5, 10, 15]
    assert checkpoint_steps(500, 10) == list(range(50, 500, 50))
    assert checkpoint_steps(3, 10) == [1, 2]  # never more than the steps there are
    assert checkpoint_steps(0, 10) == [] and checkpoint_steps(100, 1) == []


def test_k_checkpoints_with_every_score_and_the_final_one_equal_to_the_row(tmp_path):
    run_suite(moons_suite(["dann"]), tmp_path, show_progress=False)
    row = read_results(tmp_path).iloc[0]
    ckpt = pd.read_parquet(tmp_path / "_checkpoints")  # one line for every cell's checkpoints
    assert list(ckpt.step) == [5, 10, 15, 20] and list(ckpt.final) == [False, False, False, True]
    assert set(ckpt.cell_key) == {row.cell_key} and row.trial == 0
    for rule in RULES:
        if rule != "last":
            assert score_column(rule) in ckpt.columns
    final = ckpt[ckpt.final].iloc[0]
    assert final.target_acc == row.target_acc and final.source_acc == row.source_acc_after
    assert ckpt.score_target_val.isna().all()  # budget 0: nothing held out
    scores = ckpt[[c for c in ckpt.columns if c.startswith("score_") and c != "score_target_val"]]
    assert scores.notna().all().all()
    assert len(pd.read_parquet(tmp_path)) == 1  # the results directory still reads rows only


def test_checkpoints_change_neither_the_weights_nor_the_row(tmp_path):
    accs = {}
    for k in (0, 5):
        run_suite(moons_suite(["dann", "pseudo_label"], checkpoints=k), tmp_path / str(k), show_progress=False)
        df = read_results(tmp_path / str(k)).sort_values("strategy")
        accs[k] = list(zip(df.target_acc, df.source_acc_after))
    assert accs[0] == accs[5]
    assert not (tmp_path / "0" / "_checkpoints").exists()


def test_target_val_is_carved_from_the_budget_and_recorded(tmp_path):
    run_suite(moons_suite(["dann"], budgets=(5,), target_val=2), tmp_path, show_progress=False)
    row = read_results(tmp_path).iloc[0]
    extra = json.loads(row.extra)
    assert extra["target_val_labels"] == 2 * 2 and extra["target_train_labels"] == 3 * 2  # 2 classes
    ckpt = pq.read_table(checkpoint_path(tmp_path, row.cell_key)).to_pandas()
    assert ckpt.score_target_val.notna().all() and ckpt.score_target_val.between(0, 100).all()


def test_each_trial_is_a_cell_with_its_checkpoints(tmp_path):
    suite = moons_suite(["source_only", "dann"], trials=3, checkpoints=2, steps=6)
    run_suite(suite, tmp_path, show_progress=False)
    df = read_results(tmp_path)
    assert sorted(zip(df.strategy, df.trial)) == [("dann", 0), ("dann", 1), ("dann", 2), ("source_only", 0)]
    ckpt = pd.read_parquet(tmp_path / "_checkpoints")
    assert set(ckpt.cell_key) == set(df.cell_key)
    assert ckpt.groupby("cell_key").size().to_dict() == {k: (1 if s == "source_only" else 2)
                                                         for k, s in zip(df.cell_key, df.strategy)}


@pytest.mark.slow
def test_sigkill_of_a_search_suite_then_rerun_leaves_every_trial_cell_once(tmp_path):
    from tests.test_resume import _children, _gone

    suite_file = write_suite(tmp_path / "s.yaml", strategies=["source_only", {"name": "dann", "trials": 3}],
                             budgets=[0], seeds=[0, 1], source_steps=30, adapt_steps=12)
    raw = load_suite(suite_file).model_dump(mode="json")
    suite_file.write_text(json.dumps({**raw, "checkpoints": 3}))  # YAML reads JSON
    results = tmp_path / "res"
    cmd = [sys.executable, "-m", "bench", "run", str(suite_file), "--results", str(results), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(11)
    for _ in range(3):
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        target = len(result_files(results)) + rng.randint(1, 2)
        deadline = time.monotonic() + 120
        while len(result_files(results)) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.0))
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for w in workers:  # (that workers die with their runner is tests/test_resume.py's check)
            _gone(w, within_s=60)
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    cells = expand(load_suite(suite_file))
    df = read_results(results)
    assert sorted(df.cell_key) == sorted(c.key() for c in cells)  # every trial x seed exactly once
    assert sorted(zip(df.strategy, df.trial, df.seed)) == sorted((c.strategy, c.trial, c.seed) for c in cells)
    ckpt = pd.read_parquet(results / "_checkpoints")
    assert set(ckpt.cell_key) == set(df.cell_key)  # no orphan from a killed cell survives its rerun
    per_cell = ckpt.groupby("cell_key").step.apply(list).to_dict()
    for key, strategy in zip(df.cell_key, df.strategy):
        assert per_cell[key] == ([0] if strategy == "source_only" else [4, 8, 12])  # no duplicates
    assert not list(results.rglob(".*.tmp"))


def _two_pass(strategy, x):
    """The validators' inputs as they were computed before the one-pass path: predict, then features."""
    with torch.no_grad():
        return strategy.predict(x).float(), strategy.model.features(x).float().flatten(1)


@pytest.mark.parametrize("bottleneck", [None, 16])
def test_probe_outputs_in_one_backbone_pass_are_the_bits_of_predict_and_features(bottleneck):
    # a default-predict strategy on a TransferModel gets its logits as the head of the features it
    # already computed: the same operations as model(x), so the same bits (checkpoint scores and
    # in-run picks cannot move), one backbone pass instead of two
    from types import SimpleNamespace

    from bench.backbones import BackboneSpec, create_model
    from bench.cell.checkpoints import ProbeData
    from bench.data.base import Split
    from bench.strategies.base import Hparams, Strategy

    torch.manual_seed(0)
    model = create_model(BackboneSpec(name="small_cnn", bottleneck=bottleneck), num_classes=10, in_chans=1).eval()
    x = torch.randint(0, 256, (600, 1, 8, 8), dtype=torch.uint8)  # 3 batches of 256, the last one short
    y = torch.randint(0, 10, (600,))
    split = Split(x, y)
    domain = SimpleNamespace(train=split, val=split)
    data = ProbeData(Strategy(model, None, Hparams()), domain, domain, split, "cpu", seed=0)
    assert data._one_pass()
    ref_logits, ref_feats = _two_pass(data.strategy, x)
    logits, feats = data.outputs(x)
    assert torch.equal(logits, ref_logits) and torch.equal(feats, ref_feats)
    only_logits, same = data.outputs(x, features=False)
    assert torch.equal(only_logits, ref_logits) and torch.equal(same, ref_logits)
    none, only_feats = data.outputs(x, logits=False)
    assert none.numel() == 0 and torch.equal(only_feats, ref_feats)


def test_a_strategy_with_its_own_predict_keeps_two_passes():
    from bench.backbones import BackboneSpec, create_model
    from bench.cell.checkpoints import ProbeData
    from bench.strategies.base import Hparams, Strategy

    class Tempered(Strategy):
        def predict(self, x):
            return super().predict(x) / 2.0

    model = create_model(BackboneSpec(name="small_cnn"), num_classes=10, in_chans=1).eval()
    data = ProbeData.__new__(ProbeData)
    data.strategy, data.device = Tempered(model, None, Hparams()), "cpu"
    x = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8)
    assert not data._one_pass()
    logits, _ = data.outputs(x)
    assert torch.equal(logits, _two_pass(data.strategy, x)[0])
