"""``digits``: scikit-learn's 1797 real handwritten digits (UCI optdigits test set), 8x8, 0..16.

The data ships inside scikit-learn, so nothing is downloaded or cached: reading it takes a few ms.
The split is stratified and seeded by a constant of this module (never by a cell's seed), so every
run, machine and cell sees the same train / val / test images; ``digits-c/*`` reuses these indices.
"""
from __future__ import annotations

import numpy as np
import torch

from bench.data.base import DOMAINS, Domain, Split, seeded_splits

#: Fixed for the lifetime of the benchmark: changing it changes every stored digits result.
SPLIT_SEED = 20240611
FRACTIONS = (0.6, 0.1, 0.3)
CLASSES = [str(i) for i in range(10)]


def stratified_splits(
    y: np.ndarray, seed: int, fractions: tuple[float, float, float] = FRACTIONS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / val / test indices with each class split in the same proportions.

    Per class we use :func:`seeded_splits` (seed offset by the class) so the class balance of each
    split matches the data's: on 540 test images a plain permutation can shift a class by several
    points, which would show up as noise between domains. Indices come back sorted, so the order
    does not group classes together.
    """
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        for part, local in zip(parts, seeded_splits(len(members), seed + int(c), fractions)):
            part.append(members[local])
    tr, va, te = (np.sort(np.concatenate(p)) for p in parts)
    return tr, va, te


def counts_to_tensor(counts: np.ndarray) -> torch.Tensor:
    """``[N, 8, 8]`` block counts 0..16 -> float32 ``[N, 1, 8, 8]`` in [0, 1]."""
    return torch.from_numpy(np.asarray(counts, dtype=np.float32) / 16.0).unsqueeze(1).contiguous()


def make_domain(name: str, x: torch.Tensor, y: np.ndarray, splits, info: dict) -> Domain:
    """A digit domain from images ``x [N, 1, 8, 8]``, labels ``y`` and (train, val, test) indices."""
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
    tr, va, te = (torch.as_tensor(s, dtype=torch.long) for s in splits)
    return Domain(
        name=name,
        modality="image",
        classes=list(CLASSES),
        train=Split(x[tr], yt[tr]),
        val=Split(x[va], yt[va]),
        test=Split(x[te], yt[te]),
        info={"image_size": [1, 8, 8], **info},
    )


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The raw counts ``[1797, 8, 8]`` (uint8, 0..16) and labels ``[1797]``."""
    from sklearn.datasets import load_digits  # lazy: sklearn costs ~1 s to import

    data = load_digits()
    return data.images.astype(np.uint8), data.target.astype(np.int64)


def digits_splits(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return stratified_splits(y, SPLIT_SEED)


@DOMAINS.register("digits")
def build_digits(name: str = "digits") -> Domain:
    counts, y = load_digits_arrays()
    return make_domain(
        name,
        counts_to_tensor(counts),
        y,
        digits_splits(y),
        {"source": "sklearn.datasets.load_digits (UCI optdigits)", "split_seed": SPLIT_SEED},
    )
