"""Decode image files once into a memory-mapped uint8 cache, and augment training batches cheaply.

Why: a JPEG costs milliseconds to decode and resize; at 224 px a GPU step on a batch of 32 costs
about as much as decoding the batch. So every image is decoded *once*, at the suite's resolution,
into ``cache_dir("images", <dataset>)/<domain>-<size>px-<key>.u8`` (raw ``[N, 3, S, S]`` uint8)
with a JSON sidecar. Later cells, epochs and processes map that file (pages are shared, nothing is
copied) and index batches out of it directly.

The key hashes the dataset, domain, resolution, the resolved root, the file list (relative paths and byte sizes) and
:data:`VERSION`, so a changed image list or resolution never reuses a stale cache. The sidecar
holds the shape and a sha256 per chunk of rows; a truncated, resized or bit-flipped cache fails
validation and is rebuilt. The sidecar is written last, so a crash mid-build leaves no cache that
validates.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from bench.data.base import DataError, cache_dir, cache_error

#: bump when decoding (resize / crop policy) changes: old caches are then never reused
VERSION = 1
CHUNK_ROWS = 256  # rows per checksum chunk
#: caches above this size are validated on a fixed sample of chunks instead of all of them
FULL_CHECK_BYTES = 2 << 30


class _Counter:
    """Thread-safe count of decoded images: tests prove a second run decodes nothing."""

    def __init__(self) -> None:
        self.value, self._lock = 0, threading.Lock()

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.value += n


DECODES = _Counter()


def decode_image(path: Path, size: int) -> np.ndarray:
    """One image file -> ``[3, size, size]`` uint8: shorter side resized to ``size``, centre crop.

    ``draft`` lets libjpeg decode directly at a reduced scale (a 2-8x cheaper decode for large
    JPEGs); ``ImageOps.fit`` crops to a square around the centre and resizes with antialiasing.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.draft("RGB", (size, size))
            rgb = ImageOps.fit(im.convert("RGB"), (size, size), method=Image.Resampling.BILINEAR)
            arr = np.asarray(rgb, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"cannot decode image {path}: {e}. The file is corrupt or not an image: "
                        "replace it from the original archive (or remove it and its line in the "
                        "image list), then rerun.") from None
    DECODES.add()
    return arr.transpose(2, 0, 1)


def cache_key(dataset: str, domain: str, size: int, root: Path, files: Sequence[Path]) -> str:
    """Identifies the cache content: what is decoded, from which files, at which resolution."""
    # the resolved root is part of the key: two trees with the same relative names never collide
    h = hashlib.sha256(json.dumps({"v": VERSION, "dataset": dataset, "domain": domain,
                                   "size": size, "root": str(Path(root).resolve())}).encode())
    for f in files:
        rel = os.path.relpath(f, root)
        h.update(f"{rel}\0{f.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def _chunk_digests(arr: np.ndarray, chunks: Sequence[int]) -> dict[int, str]:
    return {c: hashlib.sha256(arr[c * CHUNK_ROWS:(c + 1) * CHUNK_ROWS].tobytes()).hexdigest()
            for c in chunks}


def _chunks_to_check(n_chunks: int, nbytes: int) -> list[int]:
    if nbytes <= FULL_CHECK_BYTES or n_chunks <= 32:
        return list(range(n_chunks))
    # fixed sample: first, last and 30 evenly spread chunks (catches truncation and stray writes)
    return sorted({0, n_chunks - 1, *np.linspace(0, n_chunks - 1, 30).astype(int).tolist()})


def _open_valid(data: Path, meta_path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The mapped cache if its sidecar, size and checksums agree; None means "rebuild"."""
    try:
        meta = json.loads(meta_path.read_text())
        if tuple(meta["shape"]) != shape or meta["version"] != VERSION:
            return None
        if data.stat().st_size != math.prod(shape):
            return None
        # mode "c": copy-on-write, so torch gets a writable array while the file stays untouched
        arr = np.memmap(data, dtype=np.uint8, mode="c", shape=shape)
        n_chunks = len(meta["chunks"])
        check = _chunks_to_check(n_chunks, arr.nbytes)
        got = _chunk_digests(arr, check)
        if any(got[c] != meta["chunks"][c] for c in check):
            return None
        return arr
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def cached_images(dataset: str, domain: str, root: Path, files: Sequence[Path], size: int,
                  workers: int | None = None) -> torch.Tensor:
    """``[N, 3, size, size]`` uint8 tensor backed by the memory-mapped cache (built if needed)."""
    key = cache_key(dataset, domain, size, root, files)
    folder = cache_dir("images", dataset)
    stem = f"{domain.replace('/', '_')}-{size}px-{key}"
    data, meta_path = folder / f"{stem}.u8", folder / f"{stem}.json"
    shape = (len(files), 3, size, size)
    arr = _open_valid(data, meta_path, shape)
    if arr is None:
        _build(data, meta_path, files, size, shape, workers)
        arr = _open_valid(data, meta_path, shape)
        if arr is None:
            raise DataError(f"image cache {data} does not validate right after it was written: "
                            "is the disk full or the folder shared with another version?")
    return torch.from_numpy(arr)


def _build(data: Path, meta_path: Path, files: Sequence[Path], size: int,
           shape: tuple[int, ...], workers: int | None) -> None:
    """Decode every file into a temporary map, then rename data and sidecar into place."""
    if not files:
        raise DataError(f"no images to cache for {data.name}: the domain's image list is empty")
    tmp = data.with_name(f".{data.name}.{uuid.uuid4().hex[:8]}.tmp")
    meta_tmp = meta_path.with_name(f".{meta_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        _reserve(tmp, math.prod(shape))
        arr = np.memmap(tmp, dtype=np.uint8, mode="r+", shape=shape)
        # Pillow releases the GIL while decoding, so threads scale over cores without pickling
        with ThreadPoolExecutor(max_workers=workers or min(16, os.cpu_count() or 1)) as pool:
            for i, img in enumerate(pool.map(lambda f: decode_image(f, size), files)):
                arr[i] = img
        digests = _chunk_digests(arr, range(math.ceil(len(files) / CHUNK_ROWS)))
        arr.flush()
        del arr
        os.replace(tmp, data)
        meta = {"version": VERSION, "shape": list(shape), "chunk_rows": CHUNK_ROWS,
                "chunks": [digests[c] for c in sorted(digests)]}
        meta_tmp.write_text(json.dumps(meta))
        os.replace(meta_tmp, meta_path)
    except OSError as e:
        raise cache_error(e, f"writing the image cache {data.name}") from None
    finally:
        tmp.unlink(missing_ok=True)
        meta_tmp.unlink(missing_ok=True)


def _reserve(path: Path, nbytes: int) -> None:
    """Create ``path`` with ``nbytes`` allocated on disk. A sparse file (what a plain memmap makes)
    that outgrows a full disk kills the process with SIGBUS on the first page written that does not
    fit, leaving its temp file behind; an allocated one fails here, with ENOSPC, before any work."""
    with open(path, "wb") as fh:
        fh.truncate(nbytes)
        if not hasattr(os, "posix_fallocate"):  # not Linux: the sparse file it is
            return
        try:
            os.posix_fallocate(fh.fileno(), 0, nbytes)
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.EOPNOTSUPP):  # a filesystem without allocation
                return
            raise


def random_resized_crop_flip(x: torch.Tensor, gen: torch.Generator,
                             scale: tuple[float, float] = (0.08, 1.0),
                             ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """torchvision's ``RandomResizedCrop`` + ``RandomHorizontalFlip`` for a whole batch at once.

    One affine sampling grid per image (crop box and mirror), one ``grid_sample`` call for the
    batch, on whatever device the batch is on: no per-image Python work, no PIL. Parameters are
    drawn from ``gen`` (CPU), so a seeded sampler gives reproducible augmentation. Returns float in
    [0, 1] at the input's resolution (``TransferModel.prepare`` then normalises it).
    """
    b = x.shape[0]
    area = torch.empty(b).uniform_(scale[0], scale[1], generator=gen)
    log_r = torch.empty(b).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen)
    r = torch.exp(log_r)
    w = torch.sqrt(area * r).clamp(max=1.0)  # crop width / height as fractions of the image
    h = torch.sqrt(area / r).clamp(max=1.0)
    cx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - w)  # centre in [-1, 1] coordinates
    cy = (torch.rand(b, generator=gen) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    xf = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    grid = F.affine_grid(theta.to(xf.device), list(xf.shape), align_corners=False)
    return F.grid_sample(xf, grid, mode="bilinear", padding_mode="border", align_corners=False)
