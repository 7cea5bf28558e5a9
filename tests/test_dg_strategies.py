"""DomainBed's algorithms against hand computations on planted tensors, and each running through
the harness on a leave-one-domain-out moons cell."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bench.cell.run_cell import run_cell
from bench.plan.cells import expand
from bench.plan.suite import Suite
from bench.strategies.group_dro import dro_weights
from bench.strategies.irm import irm_penalty
from bench.strategies.mixup import domain_pairs
from bench.strategies.vrex import risk_variance

DG = ["erm", "irm", "vrex", "group_dro", "mixup"]


def dce_dscale(z: torch.Tensor, y: torch.Tensor) -> float:
    """d/dw mean_i CE(w z_i, y_i) at w = 1, by hand: mean_i (sum_k p_ik z_ik - z_iy), p = softmax(z)."""
    p = torch.softmax(z, dim=1)
    return float(((p * z).sum(1) - z[torch.arange(len(y)), y]).mean())


def test_irm_penalty_is_the_product_of_the_half_batch_scale_gradients():
    z = torch.tensor([[2.0, -1.0, 0.5], [0.3, 0.1, -2.0], [1.5, 1.0, 0.0], [-0.5, 2.5, 1.0], [0.0, 0.0, 3.0]])
    y = torch.tensor([0, 2, 1, 1, 0])
    want = dce_dscale(z[::2], y[::2]) * dce_dscale(z[1::2], y[1::2])
    assert float(irm_penalty(z, y).detach()) == pytest.approx(want, rel=1e-5)
    # scaling the logits by 0 makes every class equally likely: d/dw CE = mean (mean_k z - z_y)
    assert float(irm_penalty(z * 0, y)) == pytest.approx(0.0, abs=1e-7)
    # differentiable in the logits (IRM trains through it)
    zz = z.clone().requires_grad_()
    irm_penalty(zz, y).backward()
    assert zz.grad is not None and torch.isfinite(zz.grad).all()


def test_vrex_penalty_is_the_population_variance_of_the_domain_risks():
    risks = torch.tensor([0.5, 1.0, 2.0])
    m = (0.5 + 1.0 + 2.0) / 3
    assert float(risk_variance(risks)) == pytest.approx(((0.5 - m) ** 2 + (1 - m) ** 2 + (2 - m) ** 2) / 3)
    assert float(risk_variance(torch.tensor([0.7, 0.7]))) == 0.0


def test_group_dro_weights_after_one_step_from_uniform():
    risks, eta = torch.tensor([0.2, 1.0, 3.0]), 0.5
    q = dro_weights(torch.ones(3), risks, eta)
    e = [math.exp(eta * r) for r in (0.2, 1.0, 3.0)]
    assert q.tolist() == pytest.approx([v / sum(e) for v in e], rel=1e-6)
    # a second step multiplies again: q2 proportional to exp(2 eta r)
    q2 = dro_weights(q, risks, eta)
    e2 = [math.exp(2 * eta * r) for r in (0.2, 1.0, 3.0)]
    assert q2.tolist() == pytest.approx([v / sum(e2) for v in e2], rel=1e-6)


def test_mixup_pairs_each_domain_once_on_each_side_cut_to_the_shorter():
    batches = [(torch.full((n, 2), float(d)), torch.full((n,), d)) for d, n in enumerate((4, 3, 5))]
    pairs = domain_pairs(batches, torch.Generator().manual_seed(0))
    firsts = [int(a[1][0]) for a, _ in pairs]
    seconds = [int(b[1][0]) for _, b in pairs]
    assert sorted(firsts) == sorted(seconds) == [0, 1, 2]
    assert all(f != s for f, s in zip(firsts, seconds))
    for (xi, yi), (xj, yj) in pairs:
        assert len(xi) == len(xj) == min(len(batches[int(yi[0])][1]), len(batches[int(yj[0])][1]))


def suite(strategies, **kw):
    return Suite(name="dg-alg-test", backbones=[{"name": "mlp", "kwargs": {"hidden": 16}}],
                 strategies=strategies, pairs=[{"leave_one_out": ["moons", "moons-rot/30", "moons-rot/60"]}],
                 label_budgets=[0], protocol="joint", source={"steps": 5, "batch_size": 16, "lr": 0.01},
                 adapt={"steps": 12, "batch_size": 16, "lr": 0.01}, selection="source_val", **kw)


def test_every_dg_algorithm_runs_from_the_initial_weights(tmp_path):
    cells = [c for c in expand(suite([{"name": n, "anneal_steps": 4} if n in ("irm", "vrex") else n for n in DG]))
             if c.target_domain == "moons"]
    rows = [run_cell(c, tmp_path) for c in cells]
    for row in rows:
        assert row["status"] == "ok", (row["strategy"], row["error"])
        assert row["steps"] == 12 and 0 <= row["target_acc"] <= 100
        assert math.isnan(row["source_acc_before"])  # joint: no source stage to measure


def test_erm_minimises_the_pooled_cross_entropy():
    from bench.backbones import create_model
    from bench.data import load_domain
    from bench.strategies import get_strategy
    from bench.strategies.base import AdaptContext

    cell = expand(suite(["erm"]))[0]
    src = load_domain(cell.source_domain)
    empty = src.train.take(torch.arange(0))
    ctx = AdaptContext(source_train=src.train, source_val=src.val, target_labeled=empty,
                       target_labeled_idx=torch.arange(0), target_unlabeled_x=empty.x, num_classes=2,
                       config=cell.adapt, steps=1, seed=0, device="cpu", initial_model=lambda: None)
    torch.manual_seed(0)
    cls = get_strategy("erm")
    strategy = cls(create_model(cell.backbone, num_classes=2), ctx, cls.Hparams())
    strategy.setup()
    batches = strategy.minibatches()
    loss, _ = strategy.dg_loss(batches, 0)
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    assert float(loss) == pytest.approx(float(F.cross_entropy(strategy.model(x), y)), rel=1e-6)
