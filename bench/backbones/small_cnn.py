"""``small_cnn``: a 3-block CNN (~0.1 M parameters) fast enough for CPU suites on small images."""
from __future__ import annotations

from torch import nn

from bench.backbones.base import BACKBONES, BackboneSpec, TransferModel, load_weights


def _block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


@BACKBONES.register("small_cnn")
def small_cnn(spec: BackboneSpec, num_classes: int, in_chans: int) -> TransferModel:
    width = int(spec.kwargs.get("width", 32))
    blocks = [_block(in_chans, width, False), _block(width, 2 * width, True),
              _block(2 * width, 4 * width, False)]
    backbone = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if isinstance(spec.pretrained, str):
        load_weights(backbone, spec.pretrained)
    elif spec.pretrained:
        raise ValueError("small_cnn has no published weights: use pretrained: <path>.safetensors")
    groups = [list(b.parameters()) for b in blocks]
    return TransferModel(backbone, 4 * width, num_classes, groups, input_size=spec.input_size,
                         mean=0.5, std=0.5)
