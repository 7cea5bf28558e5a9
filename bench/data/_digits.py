"""Grey 10-class digit domains built from official train / test arrays (``mnist-full``, ``usps``):
the one resize, split and registration that both use.

Split: the official test set is test; a stratified ``VAL_FRACTION`` of the official train set,
seeded by the constant ``SPLIT_SEED``, is val; the rest of train, in its original order, is train.
Changing any of this changes every stored result on these domains. Images are ``uint8
[N, 1, S, S]`` (the model divides by 255); other sizes than the native one resize with
(antialiased when shrinking) bilinear interpolation. Not a domain module itself (the leading
underscore keeps the registry from importing it as one).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from bench.data.base import DOMAINS, Domain, Split
from bench.data.image_folders import SPLIT_SEED, VAL_FRACTION, stratified
from bench.sources import source_file

CLASSES = [str(i) for i in range(10)]
Arrays = tuple[np.ndarray, np.ndarray]


def resize_grey(images: np.ndarray, size: int) -> torch.Tensor:
    """``uint8 [N, H, W]`` -> ``uint8 [N, 1, size, size]`` (antialiased bilinear when shrinking)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)
    if x.shape[-1] != size:
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False,
                          antialias=size < x.shape[-1]).round().clamp(0, 255).to(torch.uint8)
    return x.contiguous()


def digit_domain(name: str, size: int, train: tuple[np.ndarray, np.ndarray],
                 test: tuple[np.ndarray, np.ndarray], info: dict) -> Domain:
    """A 10-class grey digit domain from official ``(images uint8 [N, H, W], labels [N])`` train
    and test sets: a seeded stratified ``VAL_FRACTION`` of train becomes val."""
    (xtr, ytr), (xte, yte) = train, test
    tr, va, rest = stratified(list(ytr), SPLIT_SEED, (1 - VAL_FRACTION, VAL_FRACTION, 0.0))
    tr = torch.as_tensor(np.sort(np.concatenate([tr, rest])))
    va = torch.as_tensor(va)
    xtr_t, ytr_t = resize_grey(xtr, size), torch.as_tensor(ytr, dtype=torch.long)
    return Domain(name=name, modality="image", classes=list(CLASSES),
                  train=Split(xtr_t[tr], ytr_t[tr]), val=Split(xtr_t[va], ytr_t[va]),
                  test=Split(resize_grey(xte, size), torch.as_tensor(yte, dtype=torch.long)),
                  info={"image_size": [1, size, size], "split_seed": SPLIT_SEED,
                        "split": f"official train/test; val = seeded stratified {VAL_FRACTION:.0%} "
                                 f"of train", **info})


def register_digit_domains(key: str, native: int, resized: tuple[int, ...], file: str,
                           arrays: Callable[[str], Arrays], source: str, doc: str) -> Callable[[str], Domain]:
    """Register ``key`` (at its ``native`` size) and ``key@S`` for each ``S`` in ``resized``, built by
    :func:`digit_domain` from ``arrays("train")`` / ``arrays("test")``; the pre-flight check looks
    for the fetched ``file`` of source ``key`` (``bench data fetch <key>``). Returns the builder."""
    def check(name: str) -> None:
        source_file(key, file, verify=False)

    def build(name: str = key) -> Domain:
        size = int(name.split("@")[1]) if "@" in name else native
        return digit_domain(name, size, arrays("train"), arrays("test"), {"source": source})

    build.__doc__, build.__name__ = doc, f"build_{key.replace('-', '_')}"
    build.check = check  # type: ignore[attr-defined]
    for name in (key, *(f"{key}@{s}" for s in resized)):
        DOMAINS.register(name)(build)
    return build
