"""Protocol options: joint vs two-stage, inductive vs transductive target, learning-rate schedules,
backbone learning-rate multiplier, bottleneck, epochs x iterations. Each is observed through what
the harness really does (the source-model cache on disk, the optimiser's groups, the samplers)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from bench.backbones import BackboneSpec, create_model
from bench.cell.run_cell import cached_domain
from bench.train.config import TrainConfig
from bench.data.budget import budget_indices
from bench.plan.protocol import target_pools
from bench.run.runner import run_suite
from bench.train.schedules import lr_factor
from bench.strategies import AdaptContext
from bench.strategies.base import STRATEGIES, Strategy
from bench.strategies.dann import DANN
from bench.plan.suite import Suite
from bench.plan.cells import expand
from bench.train.loop import make_optimizer

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels

SEEN: list[AdaptContext] = []


class RecordContext(Strategy):
    """Test-only: keeps the context the harness built, takes no step."""

    trains = False

    def setup(self) -> None:
        SEEN.append(self.ctx)


if "debug_record_ctx" not in STRATEGIES:
    STRATEGIES.register("debug_record_ctx")(RecordContext)


def suite(**over) -> Suite:
    spec = {"name": "proto", "backbones": ["small_cnn"], "pairs": ["digits -> mnist"],
            "strategies": ["source_only"], "label_budgets": [0], "seeds": [0],
            "source": {"steps": 4, "batch_size": 32}, "adapt": {"steps": 3, "batch_size": 32},
            "threads": 1, "device": "cpu"}
    return Suite.model_validate({**spec, **over})


def models(results: Path) -> list[Path]:
    """The source models a run trained, as the cache on disk holds them."""
    cache = results / "_source_models"
    return [p for p in cache.iterdir() if not p.name.startswith(".")] if cache.exists() else []


def rows_of(s: Suite, results: Path) -> list[dict]:
    rows: list[dict] = []
    run_suite(s, results, show_progress=False, on_row=rows.append)
    return rows


# --- joint vs two_stage ---------------------------------------------------------------------
def test_joint_trains_no_source_stage(tmp_path):
    """Under joint a DA method starts from the initial weights: no source model is trained or
    written; source_only (source training alone) still has its source stage."""
    joint = rows_of(suite(protocol="joint", strategies=["dann", "coral"]), tmp_path)
    assert [r["status"] for r in joint] == ["ok", "ok"]
    assert not list(models(tmp_path))
    assert all(r["protocol"] == "joint" and r["source_wall_s"] == 0.0 for r in joint)
    assert all(math.isnan(r["target_acc_before"]) and math.isnan(r["forgetting"]) for r in joint)

    only = rows_of(suite(protocol="joint", strategies=["source_only"]), tmp_path)
    assert only[0]["source_cached"] is False and len(list(models(tmp_path))) == 1
    two = rows_of(suite(strategies=["dann"]), tmp_path / "two")
    assert two[0]["protocol"] == "two_stage" and not math.isnan(two[0]["target_acc_before"])
    assert two[0]["source_cached"] is False and len(list(models(tmp_path / "two"))) == 1


def test_protocol_and_target_split_are_part_of_the_key_and_recorded():
    keys = {c.key() for p in ("two_stage", "joint") for t in ("inductive", "transductive")
            for c in expand(suite(protocol=p, target_split=t))}
    assert len(keys) == 4
    cell = expand(suite(protocol="joint", target_split="transductive"))[0]
    assert "joint" in cell.describe() and "transductive" in cell.describe()
    with pytest.raises(ValidationError):
        suite(protocol="one_stage")


# --- inductive vs transductive --------------------------------------------------------------
def _rows(x: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in x.flatten(1)}


@pytest.mark.parametrize("split", ["inductive", "transductive"])
def test_the_unlabelled_target_pool_follows_target_split(tmp_path, split):
    """The AdaptContext the harness builds: inductive never holds a target-test input, transductive
    holds the whole target domain; the unlabelled sampler draws from exactly that pool."""
    SEEN.clear()
    rows = rows_of(suite(strategies=["debug_record_ctx"], target_split=split), tmp_path)
    assert rows[0]["status"] == "ok" and rows[0]["target_split"] == split
    ctx = SEEN[-1]
    mnist = cached_domain("mnist")  # 5,000 distinct images: a row identifies an image
    test, pool = _rows(mnist.test.x), _rows(ctx.target_unlabeled_x)
    drawn = torch.cat([ctx.unlabeled.next() for _ in range(len(ctx.target_unlabeled_x) // 32 + 1)])
    if split == "inductive":
        assert pool == _rows(mnist.train.x) and not pool & test
        assert not _rows(drawn.cpu()) & test
    else:
        assert len(ctx.target_unlabeled_x) == 5000 and test <= pool
        assert _rows(drawn.cpu()) & test  # one pass over the pool reaches test images
    # labels never come from beyond target-train's budget
    assert len(ctx.target_labeled) == 0


def test_transductive_measures_on_the_whole_target_and_keeps_budget_indices_valid():
    mnist = cached_domain("mnist")
    pool_x, eval_split = target_pools("transductive", mnist)
    assert len(eval_split) == 5000 and torch.equal(pool_x, eval_split.x)
    idx = budget_indices(mnist.train.y, 5, seed=0)  # positions in target-train ...
    assert torch.equal(pool_x[idx], mnist.train.x[idx])  # ... are the same images in the pool
    x, split = target_pools("inductive", mnist)
    assert x is mnist.train.x and split is mnist.test


# --- schedules ------------------------------------------------------------------------------
def _lrs_seen(cfg: TrainConfig, steps: int, **kw) -> list[float]:
    """The learning rate each optimiser step actually used (read in a pre-hook after ours)."""
    w = torch.nn.Parameter(torch.zeros(2))
    opt = make_optimizer([w], cfg, total_steps=steps, **kw)
    seen: list[float] = []
    opt.register_step_pre_hook(lambda o, *_: seen.append(o.param_groups[0]["lr"]))
    for _ in range(steps):
        w.grad = torch.ones(2)
        opt.step()
    return seen


def test_anneal_schedule_matches_the_dann_tll_formula():
    cfg = TrainConfig(lr=0.01, optimizer="sgd", schedule="anneal")
    seen = _lrs_seen(cfg, 1001)
    for i in (0, 1, 10, 500, 1000):
        assert seen[i] == pytest.approx(0.01 * (1 + 0.001 * i) ** -0.75, rel=1e-12)
    assert seen[1000] == pytest.approx(0.01 * 2 ** -0.75)  # halfway to 1/2 of lr at 1000 its


def test_cosine_with_warmup_and_constant():
    cfg = TrainConfig(lr=0.1, schedule="cosine", warmup_steps=4)
    seen = _lrs_seen(cfg, 24)
    assert seen[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    for i in (4, 9, 14, 23):
        assert seen[i] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * (i - 4) / 20)))
    assert seen[14] == pytest.approx(0.05)  # half-way through the decay: half the rate
    assert _lrs_seen(TrainConfig(lr=0.1), 5) == [0.1] * 5


def test_schedule_follows_the_harness_clock_across_optimisers():
    """A strategy that builds a new optimiser mid-run (gradual unfreezing) stays on schedule."""
    step = [0]
    cfg = TrainConfig(lr=1.0, schedule="anneal", anneal_gamma=0.1)
    w = torch.nn.Parameter(torch.zeros(1))
    step[0] = 20
    opt = make_optimizer([w], cfg, total_steps=100, clock=lambda: step[0])
    assert opt.param_groups[0]["lr"] == pytest.approx(lr_factor(cfg, 20, 100)) == pytest.approx(3 ** -0.75)


# --- backbone multiplier and bottleneck -------------------------------------------------------
def _dann(cfg: TrainConfig, bottleneck: int | None = 16) -> DANN:
    digits = cached_domain("digits")
    model = create_model(BackboneSpec(name="small_cnn", bottleneck=bottleneck), 10, in_chans=1)
    empty = torch.zeros(0, dtype=torch.long)
    ctx = AdaptContext(source_train=digits.train, source_val=digits.val,
                       target_labeled=digits.train.take(empty), target_labeled_idx=empty,
                       target_unlabeled_x=digits.val.x, num_classes=10, config=cfg, steps=10, seed=0,
                       device="cpu", initial_model=lambda: model)
    strategy = DANN(model, ctx, DANN.Hparams())
    strategy.setup()
    return strategy


def test_backbone_multiplier_reaches_the_optimiser_groups():
    cfg = TrainConfig(lr=0.01, optimizer="sgd", nesterov=True, backbone_lr_mult=0.1, schedule="anneal")
    s = _dann(cfg)
    groups = {g["name"]: g for g in s.opt.param_groups}
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert groups["backbone"]["lr"] == pytest.approx(0.001) and groups["new_layers"]["lr"] == pytest.approx(0.01)
    assert ids(groups["backbone"]["params"]) == ids(s.model.backbone.parameters())
    new = [*s.model.head.parameters(), *s.model.neck.parameters(), *s.disc.parameters()]
    assert ids(groups["new_layers"]["params"]) == ids(new)
    assert all(g["nesterov"] for g in s.opt.param_groups)
    for i in range(3):  # the schedule scales both groups and keeps their ratio
        s.ctx.step = i
        s.update(i)
    assert groups["new_layers"]["lr"] == pytest.approx(0.01 * (1 + 0.001 * 2) ** -0.75)
    assert groups["backbone"]["lr"] / groups["new_layers"]["lr"] == pytest.approx(0.1)
    assert len(_dann(TrainConfig()).opt.param_groups) == 1  # no multiplier: one group as before


def test_bottleneck_feeds_the_discriminator():
    s = _dann(TrainConfig(), bottleneck=16)
    assert s.model.feature_dim == 16 and s.model.head.in_features == 16
    neck_out, disc_in = [], []
    s.model.neck.register_forward_hook(lambda m, i, o: neck_out.append(o.detach()))
    s.disc.register_forward_hook(lambda m, i, o: disc_in.append(i[0].detach()))
    s.update(0)
    assert disc_in[0].shape[1] == 16
    # the discriminator sees exactly the bottleneck's output (gradient reversal is identity forward)
    assert torch.equal(torch.cat(disc_in), neck_out[0])
    assert isinstance(_dann(TrainConfig(), bottleneck=None).model.neck, torch.nn.Identity)


# --- epochs x iterations -------------------------------------------------------------------
def test_epochs_times_iterations_state_the_steps():
    assert TrainConfig(epochs=20, iterations_per_epoch=1000).steps == 20000
    assert TrainConfig(epochs=2, iterations_per_epoch=5, steps=10).steps == 10
    with pytest.raises(ValidationError, match="contradicts"):
        TrainConfig(epochs=2, iterations_per_epoch=5, steps=11)
    with pytest.raises(ValidationError, match="both"):
        TrainConfig(epochs=2)


# --- the published Office-31 recipe ---------------------------------------------------------
def test_tllib_office31_recipe_states_tll_and_expands():
    from bench.plan.suite import load_suite

    suite_ = load_suite(Path(__file__).parent.parent / "suites" / "tllib-office31.yaml")
    cells = expand(suite_)
    assert len(cells) == 5 * 6 * 3 and {c.pair for c in cells} >= {"office31/amazon->office31/webcam"}
    c = cells[0]
    assert (c.protocol, c.target_split, c.backbone.bottleneck) == ("joint", "transductive", 256)
    a = c.adapt
    assert (a.steps, a.batch_size, a.optimizer, a.lr, a.momentum, a.weight_decay, a.nesterov) == \
        (20_000, 32, "sgd", 0.01, 0.9, 0.001, True)
    assert (a.schedule, a.anneal_gamma, a.anneal_power, a.backbone_lr_mult) == ("anneal", 0.001, 0.75, 0.1)
    assert c.source == a  # source_only trains with the same recipe


def test_tllib_office31_recipe_runs_end_to_end_on_a_generated_tree(tmp_path, monkeypatch):
    """The recipe, shrunk (16 px, 2 x 2 iterations, random weights), on an Office-31-layout tree of
    real JPEGs: every method runs, only source_only trains a source stage, the report prints the
    published averages beside the measured ones with both selection rules."""
    import yaml

    from bench.cell.run_cell import cached_domain
    from bench.data.office31 import CLASSES
    from bench.analysis.reference import reference_blocks
    from bench.analysis.report import render
    from tests.test_real_datasets import class_tree

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    cached_domain.cache_clear()
    for dom in ("amazon", "webcam"):
        class_tree(tmp_path / "data" / "office31" / dom / "images", CLASSES, 3)
    raw = yaml.safe_load((Path(__file__).parent.parent / "suites" / "tllib-office31.yaml").read_text())
    small = {"epochs": 2, "iterations_per_epoch": 2, "batch_size": 8}
    raw.update(backbones=[{**raw["backbones"][0], "pretrained": False}],
               pairs=["office31/amazon@16 -> office31/webcam@16"], seeds=[0], threads=1, device="cpu",
               source={**raw["source"], **small}, adapt={**raw["adapt"], **small})
    rows = rows_of(Suite.model_validate(raw), tmp_path / "results")
    cached_domain.cache_clear()
    assert {r["strategy"]: r["status"] for r in rows} == dict.fromkeys(
        ["source_only", "dann", "dan", "cdan", "mcc"], "ok"), [r["error"] for r in rows]
    assert all((r["protocol"], r["target_split"], r["steps"] if r["strategy"] != "source_only" else 4)
               == ("joint", "transductive", 4) for r in rows)
    assert len(models(tmp_path / "results")) == 1  # source_only's; the DA methods have none
    import pandas as pd

    text = render.markdown(reference_blocks(pd.DataFrame(rows)))
    assert "| dann " in text and "86.1" in text and "best epoch by accuracy on the target" in text
    assert "`last`" in text and "`joint`" in text and "`transductive`" in text


def test_reference_keeps_protocols_apart():
    import pandas as pd

    from bench.analysis.reference import reference_blocks
    from bench.analysis.report import render

    base = {"status": "ok", "label_budget": "0", "backbone": "timm/resnet50.tv_in1k", "strategy": "dann",
            "source_domain": "office31/amazon", "target_domain": "office31/webcam", "selection_rule": "last"}
    rows = [{**base, "protocol": "two_stage", "target_split": "inductive", "target_acc": 70.0},
            {**base, "protocol": "joint", "target_split": "transductive", "target_acc": 80.0}]
    text = render.markdown(reference_blocks(pd.DataFrame(rows)))
    line = next(x for x in text.splitlines() if x.startswith("| dann"))
    assert [c.strip() for c in line.strip("|").split("|")] == ["dann", "86.1", "80.0", "1", "70.0", "1"]
    assert "measured (joint, transductive)" in text and "measured (two_stage, inductive)" in text
