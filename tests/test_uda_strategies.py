"""Every UDA strategy runs through the harness (run_cell) on the 2-D moons toy, at label budget 0
and above; the protocol columns they add (A-distance, selection rule) are filled."""
from __future__ import annotations

import math

import pytest
import torch

from bench.cell.run_cell import run_cell
from bench.data import load_domain
from bench.strategies import get_strategy
from bench.plan.suite import Suite

#: the strategies that adapt without target labels (the alignment columns matter for them)
from bench.plan.cells import expand

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels
UDA = ["dann", "mmd", "moments", "dan", "coral", "cdan", "cdan+e", "mcc", "adabn", "pseudo_label", "tent"]


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
def test_uda_strategies_fill_the_alignment_columns(tmp_path, budget):
    """That every strategy runs is tests/test_registry.py's job; here the columns DA adds."""
    rows = [run_cell(c, tmp_path) for c in expand(suite(UDA, budgets=(budget,)))]
    for row in rows:
        assert row["status"] == "ok", (row["strategy"], row["error"])
        assert math.isfinite(row["a_distance_before"]) and math.isfinite(row["a_distance_after"])
    by = {r["strategy"]: r for r in rows}
    assert by["adabn"]["steps"] == 0 and by["adabn"]["trainable_params"] == 0
    # tent trains only the normalisation layers' affine parameters (2 BatchNorm1d of width 16)
    assert by["tent"]["trainable_params"] == 2 * 2 * 16


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
    from bench.cell.source_stage import source_model

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


def test_entropy_selection_is_recorded_and_runs(tmp_path):
    """In-run selection by the ``entropy`` validator (the retired ``target_entropy``'s successor:
    tests/test_in_run_selection.py)."""
    row = run_cell(expand(suite(["pseudo_label"], selection="entropy"))[0], tmp_path)
    assert row["status"] == "ok" and row["selection_rule"] == "entropy"


def test_dann_reversal_weight_follows_the_schedule():
    from bench.strategies._alignment import dann_lambda

    cls = get_strategy("dann")
    assert cls.Hparams().gamma == 10.0 and not cls.Hparams().anneal_lr
    assert get_strategy("cdan+e").Hparams().entropy and not get_strategy("cdan").Hparams().entropy
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)


def test_a_strategy_that_does_not_apply_is_skipped_with_its_reason(tmp_path):
    """adabn and tent need normalisation layers: on an MLP without them the cell is ``skipped``
    (NotApplicable), not ``failed``."""
    s = Suite(name="t", backbones=[{"name": "mlp", "kwargs": {"hidden": 8, "batch_norm": False}}],
              strategies=["adabn", "tent"], pairs=["moons -> moons-rot/30"], label_budgets=[0], seeds=[0],
              source={"steps": 5, "batch_size": 32}, adapt={"steps": 2, "batch_size": 32})
    rows = {c.strategy: run_cell(c, tmp_path) for c in expand(s)}
    assert rows["adabn"]["status"] == "skipped" and "BatchNorm" in rows["adabn"]["error"]
    assert rows["tent"]["status"] == "skipped" and "normalisation" in rows["tent"]["error"]


def _strategy(name: str, budget: int = 0, momentum: float | None = None):
    from bench.backbones import create_model
    from bench.data.budget import budget_indices
    from bench.strategies.base import AdaptContext

    cell = expand(suite([name], budgets=(budget,)))[0]
    src, tgt = load_domain("moons"), load_domain("moons-rot/30")
    idx = budget_indices(tgt.train.y, budget, 0)
    ctx = AdaptContext(source_train=src.train, source_val=src.val, target_labeled=tgt.train.take(idx),
                       target_labeled_idx=idx, target_unlabeled_x=tgt.train.x, num_classes=2,
                       config=cell.adapt, steps=4, seed=0, device="cpu", initial_model=lambda: None)
    model = create_model(cell.backbone, num_classes=2)
    if momentum is not None:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.momentum = momentum
    cls = get_strategy(name)
    return cls(model, ctx, cls.Hparams())


@pytest.mark.parametrize("name", ["dann", "cdan"])
def test_the_discriminator_exists_and_is_optimised_from_setup(name):
    """No lazily built module: after setup() the discriminator's parameters are in the optimiser."""
    s = _strategy(name)
    assert not hasattr(s, "disc")
    s.setup()
    in_opt = {id(p) for g in s.opt.param_groups for p in g["params"]}
    assert all(id(p) in in_opt for p in s.disc.parameters())
    assert s.disc_input_dim() == s.disc_input_dim()  # a question, not an action


def test_cdan_uses_the_random_map_exactly_when_the_outer_product_is_too_wide():
    narrow, wide = _strategy("cdan"), _strategy("cdan")
    wide.hp = wide.hp.model_copy(update={"max_outer_dim": 4, "random_dim": 7})
    narrow.setup(), wide.setup()
    assert narrow.random_map is None and narrow.disc_input_dim() == 16 * 2
    assert wide.random_map is not None and wide.disc_input_dim() == 7


def test_adabn_restores_each_batch_norm_momentum():
    s = _strategy("adabn", momentum=0.01)
    s.finish()
    assert {m.momentum for m in s.model.modules() if isinstance(m, torch.nn.BatchNorm1d)} == {0.01}



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
    from bench.strategies._alignment import warm_start_lambda

    assert warm_start_lambda(500) == pytest.approx(2 / (1 + math.exp(-0.5)) - 1)  # TLL defaults: 0.245
    assert warm_start_lambda(0) == 0.0 and warm_start_lambda(10**6, lo=0.1, hi=0.9) == pytest.approx(0.9)
    assert "schedule" in cls.search_space and "schedule" in get_strategy("cdan").search_space
