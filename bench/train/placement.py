"""Putting a cell's model and data on its device the fast way: memory format, compile, data cache.

None of this changes what a cell computes (up to floating-point summation order), only how fast:
so none of it is part of a cell's key.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from bench.backbones import BackboneSpec
from bench.data.base import Domain, Split
from bench.train.precision import use_channels_last


def place_model(model: nn.Module, spec: BackboneSpec, device: str, compile: bool = True) -> nn.Module:
    """``model`` on ``device``, channels_last where that pays, its backbone compiled if asked.

    ``spec.compile`` compiles the backbone *in place* (``nn.Module.compile``), so the model keeps
    its attributes and its state-dict keys (the source-model cache stays interchangeable between
    compiled and eager runs). The first forward pays the compilation; the loop keeps that step out
    of the timed ones and the row records it as ``compile_s``. A strategy that replaces the
    backbone (the PEFT ones wrap it) runs the new module eagerly.
    """
    model = model.to(device)
    channels_last = use_channels_last(spec.channels_last, model, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # conv weights NHWC; outputs follow
    model.channels_last = channels_last
    if compile and spec.compile and hasattr(model, "backbone"):
        backend = spec.compile if isinstance(spec.compile, str) else "inductor"
        model.backbone.compile(backend=backend)
    return model


def domain_on_device(domain: Domain, device: str) -> Domain:
    """The domain with its input tensors resident on ``device`` (text and non-tensors unchanged).

    Batches are then indexed on the GPU: no host gather, no copy per step. One copy per process
    and domain (cached), because cells of a sweep share domains.
    """
    if not str(device).startswith("cuda") or domain.modality != "image":
        return domain
    key = (domain.name, str(device))
    if key not in _RESIDENT:
        def move(split: Split) -> Split:
            x: Any = split.x.to(device) if isinstance(split.x, torch.Tensor) else split.x
            return dataclasses.replace(split, x=x)

        _RESIDENT[key] = dataclasses.replace(domain, train=move(domain.train), val=move(domain.val),
                                             test=move(domain.test))
    return _RESIDENT[key]


_RESIDENT: dict[tuple[str, str], Domain] = {}


def placement_facts(model: nn.Module) -> dict[str, Any]:
    """What the row's ``extra`` records about how the cell ran (not part of its key)."""
    import os

    facts: dict[str, Any] = {"channels_last": bool(getattr(model, "channels_last", False))}
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:  # which GPU a --gpus worker had
        facts["cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return facts
