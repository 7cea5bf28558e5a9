"""Backbones: ``create_model(spec, num_classes, in_chans)`` builds a :class:`TransferModel`.

A family registers a builder with ``@BACKBONES.register("name")`` or ``"prefix/*"``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.backbones.spec import BACKBONES, BackboneSpec

if TYPE_CHECKING:
    from bench.backbones.base import TransferModel, count_params


def __getattr__(name: str) -> Any:
    """``TransferModel`` and ``count_params`` import torch: only when asked for (a suite validates
    with the spec and the registry alone)."""
    if name in ("TransferModel", "count_params"):
        from bench.backbones import base

        return getattr(base, name)
    raise AttributeError(f"module 'bench.backbones' has no attribute {name!r}")


def create_model(spec: BackboneSpec | str, num_classes: int, in_chans: int = 3) -> "TransferModel":
    if isinstance(spec, str):
        spec = BackboneSpec(name=spec)
    model = BACKBONES.get(spec.name)(spec, num_classes=num_classes, in_chans=in_chans)
    if spec.bottleneck:
        model.add_bottleneck(spec.bottleneck, spec.bottleneck_kind)
    return model


def list_models(pattern: str = "*") -> list[str]:
    return BACKBONES.names(pattern)


__all__ = ["BACKBONES", "BackboneSpec", "TransferModel", "count_params", "create_model", "list_models"]
