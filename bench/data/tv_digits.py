"""``tv-digits/<mnist|usps|svhn>``: the classic digit domains, through torchvision's downloaders.

All three come out as RGB uint8 at 32 px (``@28`` etc. to change), so MNIST <-> USPS <-> SVHN pairs
share one input shape. Files live under ``$BENCH_DATA_TV_DIGITS`` (or ``$BENCH_DATA/tv-digits``,
else ``./data/tv-digits``) in torchvision's own layout; they are downloaded only when
``BENCH_DOWNLOAD=1`` is set (tests and the offline default never touch the network). The official
train / test splits are used; a seeded stratified 10% of train becomes val.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.data.base import DOMAINS, DataError, Domain, Split
from bench.data.image_folders import SPLIT_SEED, VAL_FRACTION, split_size_suffix, stratified

CLASSES = [str(i) for i in range(10)]
FILES = {  # what torchvision leaves on disk, relative to the root
    "mnist": ["MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/train-labels-idx1-ubyte",
              "MNIST/raw/t10k-images-idx3-ubyte", "MNIST/raw/t10k-labels-idx1-ubyte"],
    "usps": ["usps.bz2", "usps.t.bz2"],
    "svhn": ["train_32x32.mat", "test_32x32.mat"],
}


def data_root() -> Path:
    if os.environ.get("BENCH_DATA_TV_DIGITS"):
        return Path(os.environ["BENCH_DATA_TV_DIGITS"]).expanduser()
    return Path(os.environ.get("BENCH_DATA", "data")).expanduser() / "tv-digits"


def check(name: str) -> None:
    digits, _ = _parse(name)
    root = data_root()
    missing = [f for f in FILES[digits] if not (root / f).is_file()]
    if missing and os.environ.get("BENCH_DOWNLOAD") != "1":
        raise DataError(
            f"{name}: missing {', '.join(missing)} under {root.resolve()}\n  expected torchvision's "
            f"layout: {', '.join(FILES[digits])}\n  set BENCH_DOWNLOAD=1 to let torchvision download "
            f"them (needs network), or copy them there; root: $BENCH_DATA_TV_DIGITS or "
            f"$BENCH_DATA/tv-digits")


def _parse(name: str) -> tuple[str, int]:
    digits, size = split_size_suffix(name.split("/", 1)[1] if "/" in name else "")
    if digits not in FILES:
        raise DataError(f"{name}: tv-digits has {', '.join('tv-digits/' + d for d in FILES)}")
    if size == 224 and "@" not in name:
        size = 32  # digits default to 32 px, not the photo datasets' 224
    return digits, size


def _arrays(digits: str, root: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, C, H, W]`` uint8 and labels 0..9, from torchvision's files."""
    import torchvision

    download = os.environ.get("BENCH_DOWNLOAD") == "1"
    if digits == "mnist":
        ds = torchvision.datasets.MNIST(str(root), train=train, download=download)
        return ds.data.numpy()[:, None], ds.targets.numpy()
    if digits == "usps":
        ds = torchvision.datasets.USPS(str(root), train=train, download=download)
        return np.asarray(ds.data)[:, None], np.asarray(ds.targets)
    # SVHN: torchvision downloads it but checks an md5 on reading; scipy reads the .mat itself
    file = root / ("train_32x32.mat" if train else "test_32x32.mat")
    if download and not file.is_file():
        torchvision.datasets.SVHN(str(root), split="train" if train else "test", download=True)
    from scipy.io import loadmat

    mat = loadmat(file)
    x = np.transpose(mat["X"], (3, 2, 0, 1))  # HWCN -> NCHW
    return np.ascontiguousarray(x, dtype=np.uint8), mat["y"].reshape(-1).astype(np.int64) % 10  # 10 = digit 0


def _rgb(x: np.ndarray, size: int) -> torch.Tensor:
    t = torch.from_numpy(x)
    t = t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t
    if t.shape[-1] != size:
        t = F.interpolate(t.float(), size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False).round().clamp(0, 255).to(torch.uint8)
    return t.contiguous()


def build(name: str) -> Domain:
    check(name)
    digits, size = _parse(name)
    root = data_root()
    try:
        (xtr, ytr), (xte, yte) = _arrays(digits, root, True), _arrays(digits, root, False)
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        raise DataError(f"{name}: cannot read {digits} from {root}: {e}") from None
    tr, va, rest = stratified(list(ytr), SPLIT_SEED, (1 - VAL_FRACTION, VAL_FRACTION, 0.0))
    tr = np.sort(np.concatenate([tr, rest]))
    xtr_t, ytr_t = _rgb(xtr, size), torch.as_tensor(ytr, dtype=torch.long)
    trt, vat = torch.as_tensor(tr), torch.as_tensor(va)
    return Domain(name=name, modality="image", classes=list(CLASSES),
                  train=Split(xtr_t[trt], ytr_t[trt]), val=Split(xtr_t[vat], ytr_t[vat]),
                  test=Split(_rgb(xte, size), torch.as_tensor(yte, dtype=torch.long)),
                  info={"image_size": [3, size, size], "source": f"torchvision {digits}",
                        "split": f"official train/test; val = seeded {VAL_FRACTION:.0%} of train"})


build.check = check  # type: ignore[attr-defined]
DOMAINS.register("tv-digits/*")(build)
