"""``digits-c/<corruption>[-<severity>]``: ``digits`` under a named corruption (ImageNet-C, at 8x8).

Names: ``digits-c/gaussian_noise`` (severity 3) or ``digits-c/gaussian_noise-5`` (severity 1..5).
The split indices are exactly ``digits``', so a source model trained on digits never saw any of the
corrupted test images' originals. The corruption is drawn from a generator seeded by the canonical
name (``<corruption>-<severity>``): the same name always gives the same images, and
``digits-c/x`` equals ``digits-c/x-3``.

Severities are scaled for 8x8 images of 0..16 counts, not copied from ImageNet-C's 224x224 values
(a 1-pixel blur or a 2x2 patch is already a large change here). All corruptions act on the [0, 1]
image and the result is clipped back to [0, 1].
"""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import torch

from bench.data.base import DOMAINS, Domain
from bench.data.digits import counts_to_tensor, digits_splits, load_digits_arrays, make_domain

DEFAULT_SEVERITY = 3
#: The corruption whose shift the default benchmark suite uses for ``digits -> digits-c``.
DEFAULT_CORRUPTION = "gaussian_noise"


def _gaussian_noise(x, s, rng):
    return x + rng.normal(0.0, [0.1, 0.2, 0.3, 0.4, 0.55][s - 1], x.shape)


def _shot_noise(x, s, rng):
    # Photon noise: each pixel is a Poisson count with mean x * lam; fewer photons, more noise.
    lam = [12, 6, 3, 2, 1.2][s - 1]
    return rng.poisson(x * lam) / lam


def _impulse_noise(x, s, rng):
    # Salt and pepper: a fraction of pixels set to 0 or 1 at random.
    frac = [0.05, 0.1, 0.17, 0.25, 0.35][s - 1]
    hit = rng.random(x.shape) < frac
    return np.where(hit, (rng.random(x.shape) < 0.5).astype(x.dtype), x)


def _gaussian_blur(x, s, rng):
    # Separable Gaussian with edge padding; sigma in pixels of the 8x8 grid.
    sigma = [0.4, 0.55, 0.7, 0.85, 1.0][s - 1]
    k = np.exp(-0.5 * (np.arange(-3, 4) / sigma) ** 2)
    k /= k.sum()
    for axis in (-1, -2):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (3, 3)
        xp = np.pad(x, pad, mode="edge")
        x = sum(w * np.take(xp, np.arange(i, i + 8), axis=axis) for i, w in enumerate(k))
    return x


def _contrast(x, s, rng):
    c = [0.85, 0.75, 0.65, 0.5, 0.35][s - 1]
    mean = x.mean(axis=(-2, -1), keepdims=True)
    return (x - mean) * c + mean


def _brightness(x, s, rng):
    # Additive brightening, saturating strokes and lifting the background (clipped at 1).
    return x + [0.1, 0.15, 0.2, 0.25, 0.3][s - 1]


def _dropout(x, s, rng):
    # Lost pixels: each pixel independently set to background. (A pixelate corruption was tried and
    # dropped: on an 8x8 grid even 8 -> 7 -> 8 resampling costs ~20 points, so it has no mild level.)
    p = [0.1, 0.2, 0.3, 0.4, 0.5][s - 1]
    return np.where(rng.random(x.shape) < p, 0.0, x)


def _occlusion(x, s, rng):
    # Cutout: random square patches per image set to background (patches may overlap).
    side, count = [2, 3, 3, 4, 4][s - 1], [1, 1, 2, 2, 3][s - 1]
    out = x.copy()
    for img in out.reshape(-1, 8, 8):  # a view: writes go into ``out``
        for r, c in rng.integers(0, 8 - side + 1, size=(count, 2)):
            img[r : r + side, c : c + side] = 0.0
    return out


CORRUPTIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "gaussian_blur": _gaussian_blur,
    "contrast": _contrast,
    "brightness": _brightness,
    "dropout": _dropout,
    "occlusion": _occlusion,
}
NAME_FORMAT = "digits-c/<corruption> or digits-c/<corruption>-<severity> (severity 1..5, default 3)"


def parse_name(name: str) -> tuple[str, int]:
    """``digits-c/gaussian_noise-5`` -> ("gaussian_noise", 5); ValueError saying what is valid."""
    prefix, _, rest = name.partition("/")
    corruption, severity = rest, str(DEFAULT_SEVERITY)
    head, sep, tail = rest.rpartition("-")  # corruption names use '_', so '-' only marks severity
    if sep and tail.isdigit():
        corruption, severity = head, tail
    if prefix != "digits-c" or corruption not in CORRUPTIONS or not 1 <= int(severity) <= 5:
        what = (f"severity {severity} is not in 1..5" if corruption in CORRUPTIONS
                else f"unknown corruption {corruption!r}")
        raise ValueError(
            f"bad digits-c domain {name!r} ({what}): expected {NAME_FORMAT}; "
            f"known corruptions: {', '.join(CORRUPTIONS)}"
        )
    return corruption, int(severity)


def corrupt(x: np.ndarray, corruption: str, severity: int) -> np.ndarray:
    """Apply one corruption to images in [0, 1] (any leading shape, last two dims 8x8)."""
    seed = int.from_bytes(hashlib.sha256(f"{corruption}-{severity}".encode()).digest()[:8], "little")
    out = CORRUPTIONS[corruption](x.astype(np.float64), severity, np.random.default_rng(seed))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@DOMAINS.register("digits-c/*")
def build_digits_c(name: str) -> Domain:
    corruption, severity = parse_name(name)
    counts, y = load_digits_arrays()
    # Corrupt all 1797 images in their fixed order, then split with digits' indices.
    x = torch.from_numpy(corrupt(counts_to_tensor(counts).numpy(), corruption, severity))
    return make_domain(name, x, y, digits_splits(y),
                       {"source": "digits", "corruption": corruption, "severity": severity})
