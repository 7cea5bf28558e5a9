"""The source stage: train backbone + head on labelled source-train, once, and cache the result.

Every cell with the same (backbone, source domain, seed, source training config) shares one
source model (``Cell.source_key``). The cache entry is a folder written under a temporary name,
fsynced and renamed into place, so a crash never leaves a half-written model that a later cell
would load; its meta.json holds the model file's sha256, checked before loading
(``bench/cell/source_cache.py``): a damaged entry is discarded and the model retrained from a
fresh initial model.
"""
from __future__ import annotations

import shutil
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_model, save_model

from bench.backbones import TransferModel, create_model
from bench.cell.row_parts import SourceFacts
from bench.cell.source_cache import MODEL_FILE, discard, verified_meta, write_entry
from bench.data.base import Domain
from bench.locks import exclusive
from bench.results import ResultsDir
from bench.train.placement import place_model
from bench.train.precision import Amp
from bench.plan.cells import Cell
from bench.train.loop import fit_supervised


@dataclass(frozen=True)
class TrainedSource:
    """What the source stage says of the model it hands to the rest of the cell, typed (a
    misspelt field is an AttributeError, not a ``.get`` default that silently keys a cache wrong).

    The cache entry's ``meta.json`` holds more (the backbone, the training config, the model's
    sha256); the cell needs only these."""

    source_key: str       # the entry's name; also keys the run's feature and transferability caches
    wall_s: float         # the source training's wall time (the original training's when cached)
    cached: bool          # loaded from the cache instead of trained by this cell
    step_s: float | None = None  # median training step time; None: no source stage ran

    @classmethod
    def from_meta(cls, meta: dict[str, Any], cached: bool) -> TrainedSource:
        return cls(source_key=meta.get("source_key", ""), wall_s=meta["wall_s"], cached=cached,
                   step_s=meta.get("step_s"))

    @classmethod
    def none(cls, cell: Cell) -> TrainedSource:
        """The joint protocol's: no source stage, the initial weights (keyed apart from the trained)."""
        return cls(source_key=f"initial-{cell.source_key()}", wall_s=0.0, cached=False)

    def facts(self) -> SourceFacts:
        """The row's part of it."""
        return SourceFacts(source_wall_s=self.wall_s, source_cached=self.cached)


def initial_model(cell: Cell, domain: Domain) -> TransferModel:
    """The weights the source stage starts from: seeded by the cell's seed, so reproducible.

    A pair whose domains differ in resolution (``mnist`` 28x28 -> ``digits`` 8x8) runs at one: the
    backbone's ``input_size`` if the suite sets one, else the source domain's size (target images
    are resized to it, as MNIST -> USPS papers resize USPS to 28x28)."""
    torch.manual_seed(cell.seed)
    in_chans = domain.input_shape[0] if domain.modality == "image" else 0
    model = create_model(cell.backbone, num_classes=domain.num_classes, in_chans=in_chans)
    if domain.modality == "image" and model.input_size is None:
        model.input_size = domain.input_shape[-1]
    return model


def source_model(cell: Cell, domain: Domain, device: str, cache_root: Path,
                 on_step: Callable[[int, int], None] | None = None) -> tuple[TransferModel, TrainedSource]:
    """The trained source model for ``cell`` (from the cache when present) and what the stage did."""
    entry = Path(cache_root) / cell.source_key()
    model = place_model(initial_model(cell, domain), cell.backbone, device)
    # several workers (processes, shards, Ray tasks) may need the same source model at once:
    # the first takes the lock and trains, the others wait on it and then load the cached entry
    # (the lock file sits beside the cache, in <results>/_locks/, so the cache holds only models)
    with exclusive(ResultsDir(Path(cache_root).parent).source_lock(entry.name)):
        return _load_or_train(cell, domain, device, entry, model, on_step)


def _load_or_train(cell: Cell, domain: Domain, device: str, entry: Path, model: TransferModel,
                   on_step: Callable[[int, int], None] | None) -> tuple[TransferModel, TrainedSource]:
    # the entry is verified (meta.json parses, model.safetensors matches its sha256) before any
    # weight is loaded, so a damaged entry never leaves its weights in the model we then train
    meta, why = verified_meta(entry)
    if meta is not None:
        try:
            load_model(model, str(entry / MODEL_FILE), device=str(device))
            return model, TrainedSource.from_meta(meta, cached=True)
        except Exception as e:  # checksum right but not this model (a foreign file): the model
            why = f"{MODEL_FILE} does not fit the model ({type(e).__name__})"  # may be partly loaded
            model = place_model(initial_model(cell, domain), cell.backbone, device)
    if why:
        warnings.warn(f"source-model cache entry {entry} discarded and retrained: {why}")
        discard(entry)
    for stale in entry.parent.glob(f".{entry.name}.*.tmp"):  # a crashed trainer's; we hold the lock
        shutil.rmtree(stale, ignore_errors=True)

    torch.manual_seed(cell.seed)
    t0 = time.perf_counter()
    loop = fit_supervised(model, domain.train, cell.source, seed=cell.seed, device=device,
                          on_step=on_step, amp=Amp(cell.precision, device),
                          steps=cell.backbone.source_steps)  # None: the suite's source.steps
    meta = {"source_key": cell.source_key(), "wall_s": time.perf_counter() - t0, "step_s": loop.step_s,
            "backbone": cell.backbone.model_dump(mode="json"), "source_domain": cell.source_domain,
            "seed": cell.seed, "train": cell.source.model_dump(mode="json")}
    _save(model, meta, entry)
    return model, TrainedSource.from_meta(meta, cached=False)


def _save(model: TransferModel, meta: dict, entry: Path) -> None:
    tmp = entry.parent / f".{entry.name}.{uuid.uuid4().hex[:8]}.tmp"
    channels_last = getattr(model, "channels_last", False)
    if channels_last:  # safetensors stores contiguous (NCHW) tensors only
        model.to(memory_format=torch.contiguous_format)
    try:
        # False: another worker finished the same source model first, and theirs is kept
        write_entry(tmp, lambda path: save_model(model, str(path)), meta, entry)
    finally:
        if channels_last:
            model.to(memory_format=torch.channels_last)
