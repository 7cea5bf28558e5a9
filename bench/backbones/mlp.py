"""``mlp``: a tiny multilayer perceptron for ``vector`` domains (e.g. the 2-D moons toy).

Linear -> BatchNorm1d -> ReLU blocks (batch norm so that ``adabn`` and ``tent`` apply too);
the features are the last hidden layer. kwargs: ``in_features`` (default 2), ``hidden`` (64),
``depth`` (2), ``batch_norm`` (true).
"""
from __future__ import annotations

from torch import nn

from bench.backbones.base import BACKBONES, BackboneSpec, TransferModel, load_weights


@BACKBONES.register("mlp")
def mlp(spec: BackboneSpec, num_classes: int, in_chans: int = 0) -> TransferModel:
    # vector domains have no channels; the input width comes from kwargs
    width_in = int(spec.kwargs.get("in_features", 2))
    hidden, depth = int(spec.kwargs.get("hidden", 64)), int(spec.kwargs.get("depth", 2))
    use_bn = bool(spec.kwargs.get("batch_norm", True))
    blocks = []
    for i in range(depth):
        layers = [nn.Linear(width_in if i == 0 else hidden, hidden)]
        blocks.append(nn.Sequential(*layers, *([nn.BatchNorm1d(hidden)] if use_bn else []), nn.ReLU()))
    backbone = nn.Sequential(*blocks)
    if isinstance(spec.pretrained, str):
        load_weights(backbone, spec.pretrained)
    elif spec.pretrained:
        raise ValueError("mlp has no published weights: use pretrained: <path>.safetensors")
    return TransferModel(backbone, hidden, num_classes, [list(b.parameters()) for b in blocks],
                         modality="vector")
mlp.modality = "vector"  # bench/cell/run_cell.py skips it on image or text pairs
