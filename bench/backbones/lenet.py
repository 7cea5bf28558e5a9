"""``lenet``: LeNet as the Transfer-Learning-Library defines it for its digits benchmark
(``tllib/vision/models/digits.py``, ``-a lenet --no-pool``), trained from scratch on 28x28 grey
digits: Conv(1, 20, 5) -> MaxPool 2 -> ReLU -> Conv(20, 50, 5) -> Dropout2d 0.5 -> MaxPool 2 -> ReLU
-> Flatten (50 x 4 x 4 = 800) -> Linear(800, 500) -> ReLU -> Dropout 0.5: 500 features, no pooling
after them. The recipe normalises with mean 0.5 / std 0.5 and resizes every domain to 28 px, so
``input_size`` defaults to 28 (the flatten width depends on it).
"""
from __future__ import annotations

from torch import nn

from bench.backbones.base import BACKBONES, BackboneSpec, TransferModel, load_weights


@BACKBONES.register("lenet")
def lenet(spec: BackboneSpec, num_classes: int, in_chans: int) -> TransferModel:
    size = spec.input_size or 28
    if size != 28:
        raise ValueError(f"lenet is defined on 28x28 inputs (800 features after the convolutions); "
                         f"got input_size {size}: leave it unset or use 28")
    conv1 = nn.Sequential(nn.Conv2d(in_chans, 20, kernel_size=5), nn.MaxPool2d(2), nn.ReLU())
    conv2 = nn.Sequential(nn.Conv2d(20, 50, kernel_size=5), nn.Dropout2d(p=0.5), nn.MaxPool2d(2), nn.ReLU())
    fc = nn.Sequential(nn.Flatten(), nn.Linear(50 * 4 * 4, 500), nn.ReLU(), nn.Dropout(p=0.5))
    backbone = nn.Sequential(conv1, conv2, fc)
    if isinstance(spec.pretrained, str):
        load_weights(backbone, spec.pretrained)
    elif spec.pretrained:
        raise ValueError("lenet has no published weights (TLlib trains it from scratch): "
                         "use pretrained: false or pretrained: <path>.safetensors")
    groups = [list(conv1.parameters()), list(conv2.parameters()), list(fc.parameters())]
    return TransferModel(backbone, 500, num_classes, groups, input_size=28, mean=0.5, std=0.5)
