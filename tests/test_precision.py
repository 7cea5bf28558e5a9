"""Precision (fp32 / tf32 / bf16 / fp16), channels_last and compile, on CPU."""
import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.backbones import BackboneSpec, create_model
from bench.cell.run_cell import run_cell
from bench.train.config import TrainConfig
from bench.data.base import load_domain
from bench.train.precision import PRECISIONS, Amp
from bench.strategies import AdaptContext, get_strategy
from bench.plan.suite import Suite
from bench.plan.cells import backbone_ident, expand
from bench.train.loop import evaluate
from tests.sweep_helpers import tiny_suite

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels


def cells(suite_precision="fp32", strategies=("full_finetune",), **backbone):
    raw = tiny_suite(list(strategies), budgets=[10])
    raw["precision"] = suite_precision
    if backbone:
        raw["backbones"] = [{"name": "small_cnn", **backbone}]
    return expand(Suite.model_validate(raw))


def fp16_cpu_supported() -> bool:
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            nn.Linear(2, 2)(torch.ones(1, 2))
        torch.amp.GradScaler("cpu")
        return True
    except (RuntimeError, TypeError, AssertionError):
        return False


def test_fp32_keeps_the_keys_cells_had_before_precision_existed():
    cell = cells()[0]
    # the key of this cell's dump without the precision fields, as the code before precision
    # existed hashed it (a sha256 of canonical JSON: the same on every machine)
    assert cell.key() == "09ae20524a61bc07"
    bf16 = cells("bf16")[0]
    assert bf16.precision == "bf16"
    assert bf16.key() != cell.key() and bf16.source_key() != cell.source_key()
    # speed settings never change what a cell computes, so never its key
    fast = cells(channels_last=True, compile="eager")[0]
    assert fast.key() == cell.key() and fast.source_key() == cell.source_key()
    assert backbone_ident(fast.backbone) == backbone_ident(cell.backbone)


def test_a_backbone_precision_wins_over_the_suite_one():
    assert cells("bf16", precision="fp32")[0].precision == "fp32"
    assert cells("fp32", precision="fp16")[0].precision == "fp16"
    with pytest.raises(ValueError, match="fp8"):
        cells("fp8")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_runs_the_forward_in_low_precision_and_keeps_weights_fp32(precision):
    if precision == "fp16" and not fp16_cpu_supported():
        pytest.skip(f"torch {torch.__version__} has no fp16 autocast / GradScaler on CPU")
    amp = Amp(precision, "cpu")
    layer = nn.Linear(4, 3)
    out = amp.wrap(layer)(torch.ones(2, 4))
    assert out.dtype == amp.dtype == amp.compute_dtype
    assert layer.weight.dtype == torch.float32
    assert (amp.scaler is not None) == (precision == "fp16")


def test_fp16_gradscaler_skips_a_step_with_inf_gradients_and_halves_its_scale():
    if not fp16_cpu_supported():
        pytest.skip(f"torch {torch.__version__} has no GradScaler for CPU")
    amp = Amp("fp16", "cpu")
    layer = nn.Linear(4, 1)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = copy.deepcopy(layer.state_dict())
    scale = amp.scaler.get_scale()
    with amp.autocast():
        loss = layer(torch.full((2, 4), 1e30)).float().sum()  # overflows in fp16: inf gradients
    amp.backward_step(opt, loss)
    assert all(torch.equal(before[k], v) for k, v in layer.state_dict().items())  # step skipped
    assert amp.scaler.get_scale() == scale / 2
    with amp.autocast():  # a finite loss: the step happens, with the gradient unscaled
        loss = layer(torch.ones(1, 4)).float().sum()
    amp.backward_step(opt, loss)
    # d(output)/dw = 1 per weight (scaled by S in fp16, unscaled before the step): each weight
    # moves by exactly lr
    assert torch.allclose(layer.weight, before["weight"] - 0.1, atol=1e-3)


def test_evaluation_runs_under_inference_mode_in_the_cell_precision():
    seen = []

    def predict(x):
        seen.append((torch.is_inference_mode_enabled(), torch.is_autocast_enabled("cpu")))
        return F.one_hot(torch.zeros(len(x), dtype=torch.long), 3).float()

    domain = load_domain("digits")
    acc, _ = evaluate(predict, domain.test, "cpu", amp=Amp("bf16", "cpu"))
    assert seen and all(s == (True, True) for s in seen)
    assert math.isclose(acc, 100.0 * (domain.test.y == 0).sum().item() / len(domain.test))
    seen.clear()
    evaluate(predict, domain.test, "cpu")
    assert all(s == (True, False) for s in seen)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_each_precision_runs_a_cell_and_is_recorded(precision, tmp_path):
    if precision == "fp16" and not fp16_cpu_supported():
        pytest.skip(f"torch {torch.__version__} has no fp16 autocast / GradScaler on CPU")
    cell = cells(precision, strategies=("full_finetune", "dann"))
    for c in cell:
        row = run_cell(c, tmp_path, memo={})
        assert row["status"] == "ok", row["error"]
        assert row["precision"] == precision
        assert 0 <= row["target_acc"] <= 100 and row["train_samples_per_s"] > 0


def test_qlora_compute_dtype_follows_the_precision():
    import bitsandbytes as bnb

    domain = load_domain("digits")
    torch.manual_seed(0)
    model = create_model(BackboneSpec(name="timm/test_vit", input_size=16,
                                      kwargs={"img_size": 16, "patch_size": 4}), 10, in_chans=1)
    labeled = torch.arange(16)
    for precision, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        ctx = AdaptContext(source_train=domain.train, source_val=domain.val,
                           target_labeled=domain.train.take(labeled), target_labeled_idx=labeled,
                           target_unlabeled_x=domain.train.x, num_classes=10,
                           config=TrainConfig(batch_size=8), steps=2, seed=0, device="cpu",
                           initial_model=lambda: None, amp=Amp(precision, "cpu"))
        cls = get_strategy("qlora")
        s = cls(copy.deepcopy(model), ctx, cls.Hparams(rank=2))
        s.setup()
        layers = [m for m in s.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
        assert layers and {m.compute_dtype for m in layers} == {dtype}
        out = ctx.amp.wrap(s.update)(0)
        assert torch.isfinite(out["loss"])


def test_channels_last_is_a_setting_off_on_cpu_by_default(tmp_path):
    on = run_cell(cells(channels_last=True)[0], tmp_path / "on", memo={})
    off = run_cell(cells()[0], tmp_path / "off", memo={})
    assert on["status"] == off["status"] == "ok"
    assert json.loads(on["extra"])["channels_last"] is True
    assert json.loads(off["extra"])["channels_last"] is False
    # the same computation in another memory layout: accuracies agree up to summation order
    assert abs(on["target_acc"] - off["target_acc"]) <= 5.0


def test_compile_records_its_time_apart_from_the_timed_steps(tmp_path):
    """torch.compile with the ``eager`` backend (dynamo's graph capture without inductor's C++
    build, which takes minutes on a small CPU); ``compile: true`` uses inductor the same way."""
    row = run_cell(cells(compile="eager")[0], tmp_path, memo={})
    assert row["status"] == "ok", row["error"]
    assert row["compile_s"] > 0 and row["train_samples_per_s"] > 0
    plain = run_cell(cells()[0], tmp_path / "plain", memo={})
    assert math.isnan(plain["compile_s"])
