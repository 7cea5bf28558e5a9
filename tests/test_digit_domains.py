"""``mnist-full`` and ``usps`` share one builder (bench/data/_digits.py) and keep the splits they had.

The splits are checked against the definition they were written with before the builder was
shared: val = the seeded stratified 10% of the official train set (``stratified_splits`` with
``SPLIT_SEED``), train = the rest in its original order, test = the official test set. On
generated arrays always; on the real files where ``bench data fetch`` has put them.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench import sources
from bench.data import DOMAINS, load_domain
from bench.data._digits import digit_domain
from bench.data.digits import stratified_splits
from bench.data.image_folders import SPLIT_SEED, VAL_FRACTION


def old_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices into the official train set, as the two modules each computed them."""
    tr, va, rest = stratified_splits(labels, SPLIT_SEED, (1 - VAL_FRACTION, VAL_FRACTION, 0.0))
    return np.sort(np.concatenate([tr, rest])), va


def old_resize(images: np.ndarray, size: int) -> torch.Tensor:
    x = torch.from_numpy(images).unsqueeze(1)
    if x.shape[-1] == size:
        return x
    return F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False,
                         antialias=size < x.shape[-1]).round().clamp(0, 255).to(torch.uint8)


def assert_old_splits(domain, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                      size: int) -> None:
    tr, va = old_split(train[1])
    x = old_resize(train[0], size)
    assert torch.equal(domain.train.x, x[tr]) and torch.equal(domain.val.x, x[va])
    assert domain.train.y.tolist() == train[1][tr].tolist() and domain.val.y.tolist() == train[1][va].tolist()
    assert torch.equal(domain.test.x, old_resize(test[0], size)) and domain.test.y.tolist() == test[1].tolist()
    assert domain.input_shape == (1, size, size) and domain.info["split_seed"] == SPLIT_SEED


@pytest.mark.parametrize("size", [16, 28, 8])
def test_digit_domain_splits_as_before_on_generated_digits(size):
    rng = np.random.default_rng(3)
    train = (rng.integers(0, 256, (230, 16, 16), dtype=np.uint8), rng.integers(0, 10, 230))
    test = (rng.integers(0, 256, (40, 16, 16), dtype=np.uint8), rng.integers(0, 10, 40))
    assert_old_splits(digit_domain("t", size, train, test, {}), train, test, size)


def test_each_name_is_registered_as_before_with_its_check():
    for key, sizes in (("mnist-full", ("", "@16", "@32")), ("usps", ("", "@28", "@32"))):
        builders = {DOMAINS.get(key + s) for s in sizes}
        assert len(builders) == 1 and callable(builders.pop().check)
    assert "usps@16" not in DOMAINS.names() and "mnist-full@28" not in DOMAINS.names()


def fetched(name: str) -> bool:
    return all((sources.data_root() / name / f.local).exists() for f in sources.SOURCES[name].files)


@pytest.mark.slow
@pytest.mark.parametrize("name, size", [("mnist-full", 28), ("usps", 16), ("usps@28", 28)])
def test_real_digit_domains_split_as_before(name, size):
    key = name.split("@")[0]
    if not fetched(key):
        pytest.skip(f"{key} not fetched (`bench data fetch {key}` puts it in $BENCH_DATA)")
    if key == "usps":
        from bench.data.usps import usps_arrays as arrays
    else:
        from bench.data.mnist_full import mnist_full_arrays as arrays
    assert_old_splits(load_domain(name), arrays("train"), arrays("test"), size)
