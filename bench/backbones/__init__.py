"""Backbones: ``create_model(spec, num_classes, in_chans)`` builds a :class:`TransferModel`.

A family registers a builder with ``@BACKBONES.register("name")`` or ``"prefix/*"``.
"""
from __future__ import annotations

from bench.backbones.base import BACKBONES, BackboneSpec, TransferModel, count_params


def create_model(spec: BackboneSpec | str, num_classes: int, in_chans: int = 3) -> TransferModel:
    if isinstance(spec, str):
        spec = BackboneSpec(name=spec)
    model = BACKBONES.get(spec.name)(spec, num_classes=num_classes, in_chans=in_chans)
    if spec.bottleneck:
        model.add_bottleneck(spec.bottleneck, spec.bottleneck_kind)
    return model


def list_models(pattern: str = "*") -> list[str]:
    return BACKBONES.names(pattern)


__all__ = ["BACKBONES", "BackboneSpec", "TransferModel", "count_params", "create_model", "list_models"]
