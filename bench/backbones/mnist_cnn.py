"""``mnist_cnn``: DomainBed's ``networks.MNIST_CNN``, its featurizer for ColoredMNIST and
RotatedMNIST: four 3x3 convolutions (64, 128 with stride 2, 128, 128), each followed by ReLU and
then GroupNorm with 8 groups, global average pooling: 128 features, a linear head. Inputs are the
[0, 1] pixels without normalisation, as DomainBed feeds them. About 0.37 M parameters: several
times small_cnn's cost per step, so CPU suites use small_cnn and the GPU suite this.
"""
from __future__ import annotations

from torch import nn

from bench.backbones.base import BACKBONES, BackboneSpec, TransferModel, load_weights


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    # DomainBed's order: conv -> ReLU -> GroupNorm (the norm after the activation)
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=1), nn.ReLU(), nn.GroupNorm(8, c_out))


@BACKBONES.register("mnist_cnn")
def mnist_cnn(spec: BackboneSpec, num_classes: int, in_chans: int) -> TransferModel:
    blocks = [_block(in_chans, 64, 1), _block(64, 128, 2), _block(128, 128, 1), _block(128, 128, 1)]
    backbone = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if isinstance(spec.pretrained, str):
        load_weights(backbone, spec.pretrained)
    elif spec.pretrained:
        raise ValueError("mnist_cnn has no published weights (DomainBed trains it from scratch): "
                         "use pretrained: false or pretrained: <path>.safetensors")
    groups = [list(b.parameters()) for b in blocks]
    return TransferModel(backbone, 128, num_classes, groups, input_size=spec.input_size)
