"""Image datasets on disk (Office-31, Office-Home, VisDA-2017, PACS, DomainNet, any folder tree).

A dataset module describes its layout with an :class:`ImageDataset` and registers it as a family:
``office31/amazon``, ``officehome/Real_World``, ... A domain name may end in ``@<pixels>`` to pick
the cache resolution (``office31/amazon@32`` for a quick CPU run); the default is 224, the
resolution of the ImageNet-pretrained ResNet-50 and ViT-B/16.

Where the data is: ``$BENCH_DATA_<KEY>`` (e.g. ``BENCH_DATA_OFFICE31``) if set, else
``$BENCH_DATA/<key>``, else ``./data/<key>``. A missing or malformed tree raises :class:`DataError`
naming the expected layout and the download address; ``check(name)`` does that without decoding,
so a suite run fails before its first cell.

Splits: the dataset's own train / test lists where it ships them (DomainNet, PACS), else a fixed
stratified split seeded by a constant (60 / 10 / 30, like ``digits``). Images are decoded once
into the memory-mapped cache of :mod:`bench.data.image_cache`, ordered train, val, test, so each
split is a view of the map, not a copy; training batches get random-resized-crop + flip.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.data.base import DOMAINS, DataError, Domain, Split
from bench.data.digits import stratified_splits
from bench.data.image_cache import cached_images, random_resized_crop_flip

DEFAULT_SIZE = 224
SPLIT_SEED = 20240611  # fixed forever: changing it changes every stored result on these datasets
FRACTIONS = (0.6, 0.1, 0.3)
VAL_FRACTION = 0.1  # carved from an official train list, stratified, for source_val selection
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
Item = tuple[Path, int]


def split_size_suffix(name: str) -> tuple[str, int]:
    """``"amazon@32"`` -> ``("amazon", 32)``; no suffix -> the default resolution."""
    m = re.fullmatch(r"(.+?)@(\d+)", name)
    if not m:
        return name, DEFAULT_SIZE
    size = int(m.group(2))
    if not 8 <= size <= 1024:
        raise DataError(f"{name!r}: image size {size} is outside 8..1024 pixels")
    return m.group(1), size


def stratified(labels: list[int], seed: int, fractions: tuple[float, float, float]) -> list[np.ndarray]:
    """Per-class seeded split (the digits helper), so class balance is the same in every split."""
    return list(stratified_splits(np.asarray(labels), seed, fractions))


@dataclass
class ImageDataset:
    key: str                       # family prefix, cache folder and env-variable suffix
    title: str
    url: str                       # where to download it
    layout: str                    # the expected tree, lines relative to <root>
    classes: list[str]
    #: domain name in suites -> folder names accepted on disk (first is canonical)
    domains: dict[str, list[str]] = field(default_factory=dict)

    # --- where and what --------------------------------------------------------------------
    @property
    def env_var(self) -> str:
        return "BENCH_DATA_" + re.sub(r"\W", "_", self.key).upper()

    def root(self, name: str) -> tuple[Path, str]:
        """(root folder, how it was chosen) for a domain name."""
        if os.environ.get(self.env_var):
            return Path(os.environ[self.env_var]).expanduser(), f"${self.env_var}"
        if os.environ.get("BENCH_DATA"):
            return Path(os.environ["BENCH_DATA"]).expanduser() / self.key, f"$BENCH_DATA/{self.key}"
        return Path("data") / self.key, f"./data/{self.key} (neither ${self.env_var} nor $BENCH_DATA is set)"

    def error(self, name: str, problem: str) -> DataError:
        root, how = self.root(name)
        return DataError(
            f"{name}: {problem}\n  root: {root.resolve()} (from {how})\n"
            f"  expected {self.title} laid out as:\n"
            + "".join(f"    <root>/{line}\n" for line in self.layout.strip().splitlines())
            + f"  get the data from {self.url} and point ${self.env_var} (or $BENCH_DATA, with a "
              f"'{self.key}' folder inside) at it; see docs/real-datasets.md")

    def parse(self, name: str) -> tuple[str, int]:
        rest, size = split_size_suffix(name.split("/", 1)[1] if "/" in name else "")
        if rest not in self.domains:
            raise DataError(f"{name}: {self.title} has no domain {rest!r}; its domains are "
                            f"{', '.join(self.key + '/' + d for d in self.domains)}")
        return rest, size

    def folder(self, name: str, root: Path, domain: str) -> Path:
        for candidate in self.domains[domain]:
            if (root / candidate).is_dir():
                return root / candidate
        raise self.error(name, f"no folder {' or '.join(repr(c) for c in self.domains[domain])} "
                               f"under the root")

    # --- the protocol every family shares ----------------------------------------------------
    def check(self, name: str) -> None:
        """Layout check without decoding; raises :class:`DataError` with the expected layout."""
        domain, _ = self.parse(name)
        root, _ = self.root(name)
        if not root.is_dir():
            raise self.error(name, "the dataset root does not exist")
        self.items(name, root, domain, self.folder(name, root, domain), check_only=True)

    def build(self, name: str) -> Domain:
        domain, size = self.parse(name)
        root, _ = self.root(name)
        if not root.is_dir():
            raise self.error(name, "the dataset root does not exist")
        splits = self.items(name, root, domain, self.folder(name, root, domain), check_only=False)
        classes = splits.get("classes", self.classes)
        parts = [splits["train"], splits["val"], splits["test"]]
        files = [p for part in parts for p, _ in part]
        x = cached_images(self.key, domain, root, files, size)
        y = torch.tensor([c for part in parts for _, c in part], dtype=torch.long)
        a, b = len(parts[0]), len(parts[0]) + len(parts[1])
        return Domain(
            name=name, modality="image", classes=list(classes),
            train=Split(x[:a], y[:a], augment=random_resized_crop_flip),
            val=Split(x[a:b], y[a:b]), test=Split(x[b:], y[b:]),
            info={"image_size": [3, size, size], "dataset": self.title, "root": str(root),
                  "split": splits.get("rule", ""), "sizes": [len(p) for p in parts]})

    def items(self, name: str, root: Path, domain: str, folder: Path,
              check_only: bool) -> dict:
        """``{"train": [(path, label)], "val": [...], "test": [...], "rule": "..."}``."""
        raise NotImplementedError

    def register(self) -> None:
        def builder(name: str) -> Domain:
            return self.build(name)

        builder.check = self.check  # type: ignore[attr-defined]
        builder.__module__ = type(self).__module__  # `bench list` shows that module's docstring
        DOMAINS.register(f"{self.key}/*")(builder)

    # --- helpers for items() ----------------------------------------------------------------
    def scan(self, name: str, folder: Path, check_only: bool = False,
             classes: list[str] | None = None) -> list[Item]:
        """``folder/<class>/<image>`` for exactly these classes (labels in class order)."""
        classes = self.classes if classes is None else classes
        # dot entries (.git, .ipynb_checkpoints, macOS's .Trashes) are no classes, as in class listings
        found = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")) \
            if folder.is_dir() else []
        missing = [c for c in classes if c not in found]
        extra = [d for d in found if d not in classes]
        if missing or extra or not classes:
            raise self.error(name, f"class folders under {folder} do not match the {len(classes)} "
                                   f"classes: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                                   f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}")
        if check_only:
            return []
        items = [(p, label) for label, c in enumerate(classes)
                 for p in sorted((folder / c).iterdir()) if p.suffix.lower() in IMAGE_EXTS]
        empty = [c for i, c in enumerate(classes) if not any(lab == i for _, lab in items)]
        if empty:
            raise self.error(name, f"no images in class folders {empty[:5]} under {folder}")
        return items

    def read_list(self, name: str, list_file: Path, root: Path, label_offset: int = 0,
                  check_only: bool = False) -> list[Item]:
        """A published image list: ``<relative path> <label>`` per line, paths relative to the
        root (or to the list's own folder, as VisDA's per-split lists are)."""
        lines = [ln.split() for ln in list_file.read_text().splitlines() if ln.strip()]
        if check_only:
            lines = lines[:1]
        items = []
        for i, parts in enumerate(lines, 1):
            if len(parts) < 2 or not parts[-1].lstrip("-").isdigit():
                raise self.error(name, f"{list_file}:{i}: expected '<relative path> <label>', got "
                                       f"{' '.join(parts)!r}")
            rel, label = " ".join(parts[:-1]), int(parts[-1]) - label_offset
            if not 0 <= label < len(self.classes):
                raise self.error(name, f"{list_file}:{i}: label {label + label_offset} is outside "
                                       f"the {len(self.classes)} classes")
            path = root / rel
            if not path.is_file() and (list_file.parent / rel).is_file():
                path = list_file.parent / rel
            if not path.is_file():
                raise self.error(name, f"{list_file}:{i}: image {rel} does not exist")
            items.append((path, label))
        if not lines:
            raise self.error(name, f"image list {list_file} is empty")
        return items

    def seeded(self, items: list[Item], rule: str = "") -> dict:
        """Fixed stratified 60/10/30 split of one list."""
        tr, va, te = stratified([c for _, c in items], SPLIT_SEED, FRACTIONS)
        return {"train": [items[i] for i in tr], "val": [items[i] for i in va],
                "test": [items[i] for i in te], "rule": rule or "seeded stratified 60/10/30"}

    def with_val(self, train: list[Item], test: list[Item], rule: str) -> dict:
        """Official train / test lists; a stratified seeded 10% of train becomes val."""
        tr, va, rest = stratified([c for _, c in train], SPLIT_SEED,
                                  (1 - VAL_FRACTION, VAL_FRACTION, 0.0))
        tr = np.sort(np.concatenate([tr, rest]))
        return {"train": [train[i] for i in tr], "val": [train[i] for i in va], "test": test,
                "rule": rule + f"; val = seeded {VAL_FRACTION:.0%} of train"}

    def list_or_scan(self, name: str, root: Path, folder: Path, list_file: Path,
                     check_only: bool, label_offset: int = 0) -> dict:
        """The published list when present (seeded split of it), else the class folders."""
        if list_file.is_file():
            items = self.read_list(name, list_file, root, label_offset, check_only)
            return {} if check_only else self.seeded(items, f"image list {list_file.name}, seeded 60/10/30")
        items = self.scan(name, folder, check_only)
        return {} if check_only else self.seeded(items)

    def official_or_scan(self, name: str, root: Path, folder: Path,
                         candidates: list[tuple[Path, Path]], check_only: bool,
                         label_offset: int = 0) -> dict:
        """The first (train list, test list) pair that exists (val carved from train), else the
        class folders with the seeded split."""
        for train_file, test_file in candidates:
            if train_file.is_file() and test_file.is_file():
                train = self.read_list(name, train_file, root, label_offset, check_only)
                test = self.read_list(name, test_file, root, label_offset, check_only)
                if check_only:
                    return {}
                return self.with_val(train, test, f"published lists {train_file.name} / {test_file.name}")
        items = self.scan(name, folder, check_only)
        return {} if check_only else self.seeded(items)
