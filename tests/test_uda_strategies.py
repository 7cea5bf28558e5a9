"""Every UDA strategy runs through the harness (run_cell) on the 2-D moons toy, at label budget 0
and above; the protocol columns they add (A-distance, selection rule) are filled."""
from __future__ import annotations

import math

import pytest
import torch

from bench.cell import run_cell
from bench.data import load_domain
from bench.strategies import get_strategy
from bench.suite import Suite, expand

UDA = ["dann", "mmd", "dan", "coral", "cdan", "cdan+e", "mcc", "adabn", "pseudo_label", "tent"]


def suite(strategies, budgets=(0,), selection="last", steps=20):
    return Suite(name="uda-test", backbones=[{"name": "mlp", "kwargs": {"hidden": 16}}],
                 strategies=strategies, pairs=["moons -> moons-rot/30"], label_budgets=list(budgets),
                 seeds=[0], source={"steps": 30, "batch_size": 32, "lr": 0.01},
                 adapt={"steps": steps, "batch_size": 32, "lr": 0.003}, selection=selection)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def test_moons_domains_are_2d_vectors_and_the_target_is_rotated():
    src, tgt = load_domain("moons"), load_domain("moons-rot/30")
    assert src.modality == tgt.modality == "vector" and src.classes == tgt.classes
    assert src.train.x.shape[1:] == (2,) and src.train.x.dtype == torch.float32
    assert len(src.train) + len(src.val) + len(src.test) == 1200
    assert tgt.info["rotation_deg"] == 30.0
    # the same distribution rotated: equal mean radius about the centre, different orientation
    centre = torch.tensor([0.5, 0.25])
    r_s, r_t = (src.train.x - centre).norm(dim=1).mean(), (tgt.train.x - centre).norm(dim=1).mean()
    assert abs(r_s - r_t) < 0.05
    # each class's mean about the centre is the source's turned by 30 degrees (fresh sample: the class means differ by ~0.05 from sampling alone)
    t = math.radians(30)
    rot = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    for c in (0, 1):
        m_s = src.train.x[src.train.y == c].mean(0) - centre
        m_t = tgt.train.x[tgt.train.y == c].mean(0) - centre
        assert torch.allclose(rot @ m_s, m_t, atol=0.12) and not torch.allclose(m_s, m_t, atol=0.2)


@pytest.mark.parametrize("budget", [0, 5])
def test_every_uda_strategy_runs_in_the_harness(tmp_path, budget):
    rows = [run_cell(c, tmp_path) for c in expand(suite(UDA, budgets=(budget,)))]
    for row in rows:
        assert row["status"] == "ok", (row["strategy"], row["error"])
        assert 0 <= row["target_acc"] <= 100 and math.isfinite(row["source_acc_after"])
        assert math.isfinite(row["a_distance_before"]) and math.isfinite(row["a_distance_after"])
        assert row["label_budget"] == str(budget)
    by = {r["strategy"]: r for r in rows}
    assert by["adabn"]["steps"] == 0 and by["adabn"]["trainable_params"] == 0
    # tent trains only the normalisation layers' affine parameters (2 BatchNorm1d of width 16)
    assert by["tent"]["trainable_params"] == 2 * 2 * 16
    # DANN / CDAN train a discriminator beside the model, which is not part of the model's count
    assert by["dann"]["trainable_params"] == by["mmd"]["trainable_params"] == by["mmd"]["total_params"]


@pytest.mark.parametrize("name", [n for n in UDA if n != "adabn"])
def test_budget_above_zero_puts_labelled_target_batches_into_the_loss(name):
    from bench.backbones import create_model
    from bench.data.budget import budget_indices
    from bench.strategies.base import AdaptContext

    cell = expand(suite([name], budgets=(5,)))[0]
    src, tgt = load_domain("moons"), load_domain("moons-rot/30")
    idx = budget_indices(tgt.train.y, 5, 0)  # 5 per class: 10 labelled target examples
    ctx = AdaptContext(source_train=src.train, source_val=src.val, target_labeled=tgt.train.take(idx),
                       target_labeled_idx=idx, target_unlabeled_x=tgt.train.x, num_classes=2,
                       config=cell.adapt, steps=4, seed=0, device="cpu", initial_model=lambda: None)
    torch.manual_seed(0)
    cls = get_strategy(name)
    strategy = cls(create_model(cell.backbone, num_classes=2), ctx, cls.Hparams())
    strategy.setup()
    strategy.update(0)
    assert ctx.labeled.samples == 10 and ctx.unlabeled.samples == 32  # one batch of each


def test_adabn_changes_only_batch_norm_statistics(tmp_path):
    from bench.source_stage import source_model

    # a batch size that divides target-train (720): the average of the batch means is then exact
    cell = expand(suite(["adabn"]))[0].model_copy(update={"adapt": Suite.model_fields["adapt"].default.model_copy(update={"batch_size": 48})})
    src, tgt = load_domain("moons"), load_domain("moons-rot/30")
    model, _ = source_model(cell, src, "cpu", tmp_path / "_source_models")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    from bench.strategies.base import AdaptContext

    ctx = AdaptContext(source_train=src.train, source_val=src.val, target_labeled=tgt.train.take(torch.arange(0)),
                       target_labeled_idx=torch.arange(0), target_unlabeled_x=tgt.train.x, num_classes=2,
                       config=cell.adapt, steps=0, seed=0, device="cpu", initial_model=lambda: None)
    strategy = get_strategy("adabn")(model, ctx, get_strategy("adabn").Hparams())
    strategy.finish()
    after = model.state_dict()
    bn = model.backbone[0][1]
    for k, v in after.items():
        if "running_mean" in k or "running_var" in k:
            assert not torch.allclose(v, before[k])
        elif "num_batches" not in k:
            assert torch.equal(v, before[k]), k  # no weight moved
    # the running mean is exactly the target-train mean of the first layer's pre-activations
    with torch.no_grad():
        pre = model.backbone[0][0](tgt.train.x)
    assert torch.allclose(bn.running_mean, pre.mean(0), atol=1e-5)


def test_target_entropy_selection_is_recorded_and_runs(tmp_path):
    row = run_cell(expand(suite(["pseudo_label"], selection="target_entropy"))[0], tmp_path)
    assert row["status"] == "ok" and row["selection_rule"] == "target_entropy"


def test_dann_reversal_weight_follows_the_schedule():
    from bench.alignment import dann_lambda

    cls = get_strategy("dann")
    assert cls.Hparams().gamma == 10.0 and not cls.Hparams().anneal_lr
    assert get_strategy("cdan+e").Hparams().entropy and not get_strategy("cdan").Hparams().entropy
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)


def test_a_strategy_without_batch_norm_fails_with_a_clear_message(tmp_path):
    s = Suite(name="t", backbones=[{"name": "mlp", "kwargs": {"hidden": 8, "batch_norm": False}}],
              strategies=["adabn"], pairs=["moons -> moons-rot/30"], label_budgets=[0], seeds=[0],
              source={"steps": 5, "batch_size": 32}, adapt={"steps": 2, "batch_size": 32})
    row = run_cell(expand(s)[0], tmp_path)
    assert row["status"] == "failed" and "BatchNorm" in row["error"]


@pytest.mark.parametrize("schedule", ["paper", "warm_start"])
def test_dann_lambda_under_either_schedule_is_its_formula(schedule):
    """paper: 2/(1+exp(-gamma p))-1 over progress p; warm_start (Transfer-Learning-Library):
    2/(1+exp(-alpha i/max_iters))-1 over iterations i, whatever the run's length."""
    from types import SimpleNamespace

    cls = get_strategy("dann")
    hp = cls.Hparams(schedule=schedule, alpha=2.0, max_iters=400, gamma=7.0)
    for step, steps in [(0, 500), (100, 500), (250, 500), (500, 500), (300, 1000)]:
        strategy = SimpleNamespace(hp=hp, ctx=SimpleNamespace(step=step, progress=step / steps))
        lam = cls.lam.fget(strategy)
        expected = (2 / (1 + math.exp(-7.0 * step / steps)) - 1 if schedule == "paper"
                    else 2 / (1 + math.exp(-2.0 * step / 400)) - 1)
        assert lam == pytest.approx(expected)
    from bench.alignment import warm_start_lambda

    assert warm_start_lambda(500) == pytest.approx(2 / (1 + math.exp(-0.5)) - 1)  # TLL defaults: 0.245
    assert warm_start_lambda(0) == 0.0 and warm_start_lambda(10**6, lo=0.1, hi=0.9) == pytest.approx(0.9)
    assert "schedule" in cls.search_space and "schedule" in get_strategy("cdan").search_space
