"""``vader/<domain>@<n>`` (bench/data/vader_reviews.py): a fixed, class-stratified share of each
split of the full domain, so a CPU-sized suite measures on a subset of the full domain's test set."""
from __future__ import annotations

import numpy as np
import pytest

from bench.data.vader_reviews import SPLIT_SEED, subsample
from bench.data.digits import stratified_splits
from bench.errors import DataError
from bench.sources import SOURCES, data_root

REAL_ROOT = data_root()  # before any test points $BENCH_DATA elsewhere


def test_subsample_takes_the_same_share_of_each_class_of_each_split():
    y = np.array([0] * 700 + [1] * 300)
    splits = stratified_splits(y, SPLIT_SEED, (0.6, 0.1, 0.3))
    small = subsample(splits, y, 200)
    for full, part in zip(splits, small):
        assert set(part) <= set(full) and np.all(np.diff(part) > 0)
        for c in (0, 1):  # a fifth of each class of each split, to the nearest text
            assert abs(np.sum(y[part] == c) - np.sum(y[full] == c) / 5) <= 0.5
    assert [p.tolist() for p in subsample(splits, y, 200)] == [p.tolist() for p in small]  # fixed
    assert subsample(splits, y, 5000) is splits  # more than there is: the whole domain


@pytest.mark.parametrize("name", ["vader/movies@", "vader/movies@0", "vader/movies@ten", "vader/films@100"])
def test_a_bad_name_says_what_vader_has(name):
    from bench.data.vader_reviews import check

    with pytest.raises(DataError, match=r"vader/movies.*@<n>"):
        check(name)


@pytest.mark.slow
@pytest.mark.skipif(not all((REAL_ROOT / "vader-reviews" / f.local).exists() for f in SOURCES["vader-reviews"].files),
                    reason=f"vader-reviews not in {REAL_ROOT} (`bench data fetch vader-reviews`)")
def test_a_real_subsample_lies_inside_the_full_domains_splits(monkeypatch):
    from bench.data import load_domain

    monkeypatch.setenv("BENCH_DATA", str(REAL_ROOT))
    for domain in ("tweets", "nyt"):
        full, small = load_domain(f"vader/{domain}"), load_domain(f"vader/{domain}@1000")
        assert abs(len(small.train) + len(small.val) + len(small.test) - 1000) <= 4
        assert "@1000" in small.info["labels"] and "neutral texts dropped" in small.info["labels"]
        for name in ("train", "val", "test"):
            f, s = getattr(full, name), getattr(small, name)
            assert set(s.x) <= set(f.x)
            assert abs(float(s.y.float().mean()) - float(f.y.float().mean())) < 0.01
