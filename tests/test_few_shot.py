"""Few-shot strategies: protonet and maml (first-order MAML / ANIL)."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.backbones import BackboneSpec, TransferModel, create_model
from bench.cell.run_cell import run_cell
from bench.train.config import TrainConfig
from bench.data import load_domain
from bench.data.base import Split
from bench.data.budget import budget_indices
from bench.strategies import AdaptContext, get_strategy
from bench.strategies.maml import inner_loop
from bench.plan.suite import Suite
from bench.plan.cells import expand

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def context(source: Split, target_train: Split, budget, model_factory, steps=3, batch_size=64, seed=0):
    idx = budget_indices(target_train.y, budget, seed)
    return AdaptContext(source_train=source, source_val=source, target_labeled=target_train.take(idx),
                        target_labeled_idx=idx, target_unlabeled_x=target_train.x,
                        num_classes=int(source.y.max()) + 1, config=TrainConfig(steps=steps, batch_size=batch_size),
                        steps=steps, seed=seed, device="cpu", initial_model=model_factory)


def identity_model(dim: int, classes: int) -> TransferModel:
    return TransferModel(nn.Identity(), dim, classes, [[]], modality="vector")


def clusters(n_per_class: int, seed: int) -> Split:
    """Three well-separated Gaussian blobs in 2-D."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 8.0], [8.0, 0.0], [-8.0, -8.0]])
    y = torch.arange(3).repeat_interleave(n_per_class)
    return Split(centres[y] + torch.randn(len(y), 2, generator=g), y)


@pytest.mark.parametrize("distance", ["sqeuclidean", "cosine"])
def test_protonet_on_a_separable_toy_is_100_percent(distance):
    train, test = clusters(20, seed=0), clusters(50, seed=1)
    model = identity_model(2, 3)
    cls = get_strategy("protonet")
    strat = cls(model, context(train, train, 1, lambda: identity_model(2, 3)), cls.Hparams(distance=distance))
    strat.setup()
    strat.finish()   # one labelled example per class: the prototypes
    acc = (strat.predict(test.x).argmax(-1) == test.y).float().mean().item()
    assert acc == 1.0
    # nothing trains without episodic steps
    assert cls.total_steps(strat.hp, 200) == 0 and not any(p.requires_grad for p in model.parameters())


def test_maml_first_order_inner_step_is_one_sgd_step_of_the_head():
    torch.manual_seed(0)
    model = create_model(BackboneSpec(name="mlp", kwargs={"hidden": 8}), num_classes=3, in_chans=0).eval()
    x, y = torch.randn(12, 2), torch.arange(3).repeat(4)
    feats = model.features(x).detach()
    before = {n: p.detach().clone() for n, p in model.head.named_parameters()}
    fast = inner_loop(model.head, dict(model.head.named_parameters()), feats, y, steps=1, lr=0.3,
                      first_order=True)
    twin = copy.deepcopy(model.head)
    opt = torch.optim.SGD(twin.parameters(), lr=0.3)
    F.cross_entropy(twin(feats), y).backward()
    opt.step()
    for name, p in twin.named_parameters():
        assert torch.allclose(fast[name], p, atol=1e-6)
        assert torch.equal(model.head.get_parameter(name), before[name])  # functional: model untouched
    # first order: the outer gradient reaches the initial head through the identity
    F.cross_entropy(torch.func.functional_call(model.head, fast, (feats,)), y).backward()
    assert model.head.weight.grad is not None


def test_maml_adaptation_to_the_target_is_that_sgd_step_on_the_support_set():
    moons, target = load_domain("moons"), load_domain("moons-rot/30")
    torch.manual_seed(0)
    spec = BackboneSpec(name="mlp", kwargs={"hidden": 8})
    model = create_model(spec, num_classes=2, in_chans=0)
    ctx = context(moons.train, target.train, 5, lambda: create_model(spec, 2, 0), steps=0)
    cls = get_strategy("maml")
    strat = cls(model, ctx, cls.Hparams(inner_steps=1, inner_lr=0.5))
    twin = copy.deepcopy(model).eval()
    strat.setup()
    strat.finish()
    opt = torch.optim.SGD(twin.head.parameters(), lr=0.5)
    support = ctx.target_labeled
    F.cross_entropy(twin.head(twin.features(support.x).detach()), support.y).backward()
    opt.step()
    assert torch.allclose(model.head.weight, twin.head.weight, atol=1e-6)
    assert torch.allclose(model.head.bias, twin.head.bias, atol=1e-6)


@pytest.mark.parametrize("name,hp", [("protonet", {"episodic_steps": 4}), ("maml", {"steps": 4}),
                                     ("maml", {"steps": 2, "head_only": False, "first_order": False})])
def test_episodes_come_only_from_source_or_the_budgets_target_labels(name, hp):
    moons, target = load_domain("moons"), load_domain("moons-rot/30")
    spec = BackboneSpec(name="mlp", kwargs={"hidden": 8})
    model = create_model(spec, num_classes=2, in_chans=0)
    ctx = context(moons.train, target.train, 1, lambda: create_model(spec, 2, 0), batch_size=8)
    cls = get_strategy(name)
    strat = cls(model, ctx, cls.Hparams(**hp))
    strat.setup()
    for step in range(cls.total_steps(strat.hp, 3)):
        assert math.isfinite(strat.update(step)["loss"])
    strat.finish()
    # meta-training episodes: the source-train split, and nothing else
    assert strat.episodes.split is ctx.source_train and len(strat.episodes.drawn) >= 2
    assert all(int(d.max()) < len(ctx.source_train) for d in strat.episodes.drawn)
    # the target side: only the budget's labelled examples (1 per class), never other target inputs
    assert len(ctx.target_labeled) == 2 and ctx.unlabeled.samples == 0
    assert ctx.labeled.y is ctx.target_labeled.y


def test_few_shot_strategies_run_through_the_harness(tmp_path):
    suite = Suite(name="few-shot-test", backbones=[{"name": "mlp", "kwargs": {"hidden": 16}}],
                  strategies=[{"name": "protonet"}, {"name": "protonet", "episodic_steps": 10, "distance": "cosine"},
                              {"name": "maml", "steps": 10}],
                  pairs=["moons -> moons-rot/30"], label_budgets=[0, 5], seeds=[0],
                  source={"steps": 30, "batch_size": 32, "lr": 0.01}, adapt={"steps": 10, "batch_size": 32},
                  checkpoints=2)  # a checkpoint mid-training evaluates the strategy's predict
    rows = [run_cell(c, tmp_path) for c in expand(suite)]
    for row in rows:
        if row["label_budget"] == "0":
            assert row["status"] == "skipped" and "needs target labels" in row["error"]
            continue
        assert row["status"] == "ok", row["error"]
        assert 0 <= row["target_acc"] <= 100 and math.isfinite(row["forgetting"])
        assert row["peak_mem_allocated_bytes"] > 0 and math.isfinite(row["adapt_wall_s"])
    ok = [r for r in rows if r["status"] == "ok"]
    assert [r["steps"] for r in ok] == [0, 10, 10]
    assert ok[0]["trainable_params"] == 0 and ok[2]["trainable_params"] > 0
    assert all(math.isfinite(r["train_samples_per_s"]) for r in ok[1:])
