"""Shared plumbing for the parameter-efficient strategies (``lora``, ``qlora``, ``ia3``, ...).

* which modules a method targets, chosen per backbone family from the module names
  (BERT-style ``query``/``value``, timm ViT ``qkv``, otherwise the convolutions of a CNN);
* wrapping ``model.backbone`` with peft's ``get_peft_model`` while the harness's ``model.head``
  stays a plain, trainable ``nn.Linear``;
* quantising a backbone's linear layers to 4-bit NF4 with bitsandbytes (QLoRA's frozen base);
* the blocks after which bottleneck adapters go;
* the size of the saved adapter (safetensors of the trainable tensors).

peft and bitsandbytes are imported inside the functions: ``bench --help`` must not pay for them.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bench.errors import NotApplicable


def family(backbone: nn.Module) -> str:
    """``"bert"`` (query/key/value linears), ``"vit"`` (fused ``qkv``), ``"cnn"`` or ``"mlp"``."""
    names = [n for n, _ in backbone.named_modules()]
    if any(n.endswith(".query") for n in names) and any(n.endswith(".value") for n in names):
        return "bert"
    if any(n.endswith(".qkv") for n in names):
        return "vit"
    if any(isinstance(m, nn.Conv2d) for m in backbone.modules()):
        return "cnn"
    return "mlp"


def _convs(backbone: nn.Module) -> list[str]:
    # depthwise / grouped convolutions are left out: a low-rank update of a per-channel filter
    # saves nothing and peft's LoRA does not cover every grouped case.
    return [n for n, m in backbone.named_modules() if isinstance(m, nn.Conv2d) and m.groups == 1]


def _linears(backbone: nn.Module) -> list[str]:
    return [n for n, m in backbone.named_modules() if isinstance(m, nn.Linear)]


def lora_targets(backbone: nn.Module) -> list[str]:
    """Attention projections for transformers (as the LoRA paper), every convolution for CNNs."""
    fam = family(backbone)
    if fam == "bert":
        return ["query", "value"]
    if fam == "vit":
        return ["qkv"]
    return _convs(backbone) if fam == "cnn" else _linears(backbone)


def ia3_targets(backbone: nn.Module) -> tuple[list[str], list[str]]:
    """(target modules, feed-forward modules) as in peft's own defaults for BERT / ViT."""
    fam = family(backbone)
    if fam == "bert":
        return ["key", "value", "output.dense"], ["output.dense"]
    if fam == "vit":
        return ["qkv", "fc2"], ["fc2"]
    if fam == "cnn":
        return _convs(backbone), []
    lins = _linears(backbone)
    return lins, []


def wrap_backbone(model: nn.Module, peft_config: Any) -> nn.Module:
    """Replace ``model.backbone`` by its peft model; base frozen, ``model.head`` trainable.

    The head is the harness's own ``nn.Linear`` outside the backbone, so it never needs peft's
    ``modules_to_save``: it is simply left trainable.
    """
    from peft import get_peft_model

    model.backbone = get_peft_model(model.backbone, peft_config)
    for p in model.head.parameters():
        p.requires_grad_(True)
    return model


def quantize_linears_4bit(module: nn.Module, quant_type: str = "nf4",
                          compute_dtype: torch.dtype = torch.float32) -> int:
    """Replace every ``nn.Linear`` under ``module`` by a frozen bitsandbytes ``Linear4bit``.

    Works on a model already in memory (the fine-tuned source model), on CPU and CUDA:
    bitsandbytes quantises a ``Params4bit`` when it is moved to its device. Returns how many
    layers were quantised.
    """
    import bitsandbytes as bnb

    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Linear):
            device = child.weight.device
            q = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                  compute_dtype=compute_dtype, quant_type=quant_type, device="meta")
            q.weight = bnb.nn.Params4bit(child.weight.data.detach().clone().cpu(), requires_grad=False,
                                         quant_type=quant_type)
            if child.bias is not None:
                q.bias = nn.Parameter(child.bias.data.detach().clone().cpu(), requires_grad=False)
            q = q.to(device)  # .to() quantises the weight
            q.register_forward_pre_hook(_input_in_compute_dtype)
            setattr(module, name, q)
            count += 1
        else:
            count += quantize_linears_4bit(child, quant_type, compute_dtype)
    return count


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no device argument
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def _input_in_compute_dtype(layer: nn.Module, args: tuple) -> tuple | None:
    """Under autocast, hand a ``Linear4bit`` its input in the compute dtype, as autocast does for
    ``nn.Linear``.

    ``Linear4bit`` returns its *input's* dtype. After a LayerNorm (fp32 under autocast) that is
    fp32, so every activation that follows (the MLP's hidden layer, the GELU) would be kept for the
    backward pass in fp32: measured on ViT-B/16, bf16, batch 32 on an H200, QLoRA then peaked
    above LoRA (3.01 against 2.89 GB) although its frozen weights take an eighth of the memory.
    """
    x = args[0] if args else None
    if (isinstance(x, torch.Tensor) and x.is_floating_point() and layer.compute_dtype is not None
            and x.dtype != layer.compute_dtype and _autocast_on(x.device.type)):
        return (x.to(layer.compute_dtype), *args[1:])
    return None


def blocks(backbone: nn.Module) -> list[nn.Module]:
    """The blocks after which bottleneck adapters go: transformer layers or residual stages.

    BERT-style ``encoder.layer``, timm ``blocks`` (ViT) or ``stages`` / ``layer1..4`` (CNNs), and
    for a plain ``nn.Sequential`` CNN (``small_cnn``) its convolutional children.
    """
    for path in ("encoder.layer", "encoder.encoder.layer", "blocks", "stages"):
        mod: Any = backbone
        for part in path.split("."):
            mod = getattr(mod, part, None)
        if isinstance(mod, (nn.ModuleList, nn.Sequential)) and len(mod):
            return list(mod)
    resnet = [getattr(backbone, f"layer{i}", None) for i in range(1, 5)]
    if all(isinstance(m, nn.Module) for m in resnet):
        return resnet
    if isinstance(backbone, nn.Sequential):
        found = [m for m in backbone if any(isinstance(c, nn.Conv2d) for c in m.modules())]
        if found:
            return found
    raise NotApplicable(f"no adapter sites found in {type(backbone).__name__}: expected transformer "
                        "layers (encoder.layer / blocks) or CNN stages (stages / layer1..4)")


def output_width(block: nn.Module) -> int:
    """Channels / hidden size a block outputs: the width of its last sized sub-module."""
    width = None
    for m in block.modules():
        for attr in ("out_features", "out_channels", "num_features"):
            if isinstance(getattr(m, attr, None), int):
                width = getattr(m, attr)
        if isinstance(m, nn.LayerNorm):
            width = m.normalized_shape[-1]
    if width is None:
        raise ValueError(f"cannot tell the output width of {type(block).__name__}")
    return width


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors a strategy trained: what a saved adapter (plus the new head) holds."""
    return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}


def adapter_bytes(model: nn.Module) -> int:
    """Size in bytes of the trainable tensors saved as safetensors (the shippable adapter)."""
    from safetensors.torch import save

    return len(save(trainable_state(model)))


def model_bytes(model: nn.Module) -> int:
    """Bytes held by the model's parameters and buffers (4-bit weights count as packed)."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


class PeftStrategyMixin:
    """What every parameter-efficient strategy shares: after ``self.adapt()`` has frozen the base
    and added the new parameters, train every trainable tensor with cross-entropy on the budget's
    target labels, and record the saved adapter's size.

    Use as ``class Lora(PeftStrategyMixin, Strategy)`` and implement ``adapt()``.
    """

    needs_target_labels = True
    adapter_bytes: int | None = None

    def adapt(self) -> None:
        raise NotImplementedError

    def setup(self) -> None:
        self.adapt()
        self.model.to(self.ctx.device)
        self.opt = self.optimizer(p for p in self.model.parameters() if p.requires_grad)

    def update(self, step: int) -> dict[str, float]:
        return self.supervised_step(self.opt)

    def finish(self) -> None:
        self.adapter_bytes = adapter_bytes(self.model)
