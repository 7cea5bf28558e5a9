"""The data types every domain returns, the domain registry and the on-disk data cache."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from bench.errors import CacheError, DataError
from bench.results import disk_full, write_probe
# SOURCES_SEP joins the domains of a multi-source name ("rmnist/0+rmnist/15" is both, pooled); it
# and domain_parts live with the row schema, which the readers of results (analysis) share
from bench.results.schema import SOURCES_SEP, domain_parts  # noqa: F401
from bench.data.registry import DOMAINS


@dataclass
class Split:
    """One split of a domain.

    ``x`` is indexable by a LongTensor of indices: for images a float tensor ``[N, C, H, W]`` with
    values in [0, 1] (or a uint8 / memory-mapped tensor that a backbone converts), for text a list
    of strings. ``y`` holds integer labels ``[N]``.
    """

    x: Any
    y: torch.Tensor
    #: training-batch augmentation ``augment(x_batch_on_device, generator) -> x_batch``; only the
    #: samplers of training batches apply it (never evaluation), see ``Sampler``
    augment: Callable[[Any, torch.Generator], Any] | None = None
    #: int64 ``[N]``: which source domain each example came from, in a pooled multi-source split
    #: (:func:`pool_domains`); None for a single domain
    domain: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: torch.Tensor) -> "Split":
        return Split(take(self.x, idx), self.y[idx], self.augment,
                     None if self.domain is None else self.domain[idx])


def take(x: Any, idx: torch.Tensor) -> Any:
    """Index a batch out of a tensor, a dict of tensors, or a list (text)."""
    if isinstance(x, dict):
        return {k: take(v, idx) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [x[i] for i in idx.tolist()]
    return x[idx]


def to_device(x: Any, device: str) -> Any:
    """Move a batch (tensor or dict of tensors) to ``device``; text lists stay as they are."""
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}
    return x.to(device, non_blocking=True) if isinstance(x, torch.Tensor) else x


def batches(x: Any, device: str, batch_size: int = 256) -> Iterator[tuple[torch.Tensor, Any]]:
    """``(indices, batch on device)`` over ``x`` in order: the one loop behind every pass over a
    split (evaluation, feature extraction, batch-norm re-estimation, validator scores)."""
    n = len(x)
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(n, start + batch_size))
        yield idx, to_device(take(x, idx), device)


@dataclass
class Domain:
    name: str
    modality: str  # "image" or "text"
    classes: list[str]
    train: Split
    val: Split
    test: Split
    #: free-form facts for reports and provenance (image size, source of the data, ...)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image (C, H, W); empty for text."""
        return tuple(self.train.x.shape[1:]) if self.modality == "image" else ()


def check_domain(name: str) -> None:
    """Cheap pre-flight check that ``name``'s data is in place (no decoding), so a run fails before
    its first cell rather than half-way. Builders opt in with a ``check(name)`` attribute."""
    for part in domain_parts(name):
        check = getattr(DOMAINS.get(part), "check", None)
        if check is not None:
            check(part)


def load_domain(name: str, load_part: Callable[[str], "Domain"] | None = None) -> Domain:
    """Build (or read from the cache) the domain called ``name``; unknown names say what exists.
    A multi-source name (``a+b+c``) pools its parts, each built by ``load_part`` (default: this)."""
    parts = domain_parts(name)
    if len(parts) > 1:
        return pool_domains(name, [(load_part or load_domain)(p) for p in parts])
    domain = DOMAINS.get(name)(name)
    if domain.name != name:
        raise RuntimeError(f"domain builder for {name!r} returned a domain named {domain.name!r}")
    return domain


def pool_domains(name: str, domains: list[Domain]) -> Domain:
    """Several source domains as one: each split is the parts' splits concatenated in order, and
    ``Split.domain`` holds each example's part index (0 for the first named, ...), so samplers can
    balance batches over domains and strategies can see where each example came from. The parts
    must share a label set, a modality and (images) an input shape."""
    first = domains[0]
    for d in domains[1:]:
        if d.classes != first.classes or d.modality != first.modality or d.input_shape != first.input_shape:
            raise DataError(f"{name}: {d.name} and {first.name} cannot be pooled (label sets, modality or "
                            f"input shapes differ: {d.input_shape} vs {first.input_shape}); name source "
                            "domains of one dataset at one size")

    def pooled(splits: list[Split]) -> Split:
        xs = [s.x for s in splits]
        x = torch.cat(xs) if isinstance(xs[0], torch.Tensor) else [item for part in xs for item in part]
        dom = torch.cat([torch.full((len(s),), i, dtype=torch.long) for i, s in enumerate(splits)])
        return Split(x, torch.cat([s.y for s in splits]), splits[0].augment, dom)

    return Domain(name, first.modality, list(first.classes), pooled([d.train for d in domains]),
                  pooled([d.val for d in domains]), pooled([d.test for d in domains]),
                  info={"sources": [d.name for d in domains]})




def cache_root() -> tuple[Path, str]:
    """(the data cache's root, how it was chosen): ``$BENCH_CACHE`` or ``~/.cache/transfer-bench``."""
    if "BENCH_CACHE" in os.environ:
        return Path(os.environ["BENCH_CACHE"]), "$BENCH_CACHE"
    return Path.home() / ".cache" / "transfer-bench", "the default; BENCH_CACHE is not set"


def cache_error(exc: OSError, what: str = "") -> CacheError:
    """The one-line message for a cache that cannot be written: which folder, why, what to do."""
    root, how = cache_root()
    where = f"data cache {root} (from {how})" + (f": {what}" if what else "")
    if disk_full(exc):
        return CacheError(f"no room in the {where}: the disk is full or a quota / file-size limit "
                          f"was hit ({exc.strerror or exc}). Free space there (or point BENCH_CACHE at "
                          "another disk) and run the same command again")
    blocker = next((p for p in (root, *root.parents) if p.is_file()), None)
    problem = (f"is not writable ({exc.strerror or exc})" if blocker is None else
               "is a file, not a directory" if blocker == root else f"is inside {blocker}, which is a file")
    return CacheError(f"{where} {problem}; point BENCH_CACHE at a directory you can write to and run "
                      "the same command again")


def cache_dir(*parts: str) -> Path:
    """Where generated or decoded data is cached: ``<cache root>/<parts...>``, created if needed."""
    path = cache_root()[0].joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cache_error(e) from None
    return path


def check_cache() -> None:
    """Pre-flight, before any cell: the cache is a directory that takes a real write, flushed to
    disk (an empty file would fit on a full disk). Raises :class:`CacheError` otherwise, so a bad
    ``BENCH_CACHE`` stops the run instead of becoming a ``failed`` row for every cell."""
    try:
        write_probe(cache_dir())
    except OSError as e:
        raise cache_error(e) from None


def seeded_splits(
    n: int, seed: int, fractions: tuple[float, float, float] = (0.6, 0.1, 0.3)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed train / val / test index arrays for ``n`` items from a seeded permutation."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]
