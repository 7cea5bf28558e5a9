"""``suites/domainbed-vlcs-mini.yaml``: DomainBed's VLCS protocol on the offline 3-domain sample
(issue 21). The suite expands to leave-one-domain-out cells only -- every domain held out in turn,
the other two as sources, for each algorithm and seed -- and, where vlcs-mini is fetched, none of a
held-out domain's photos reaches any of its cells' training (the general check of
tests/test_multi_source.py, run on this suite's cells)."""
from __future__ import annotations

import itertools

import pytest

from bench.plan.cells import expand
from bench.plan.suite import load_suite
from bench.sources import SOURCES, data_root
from tests.conftest import REPO
from tests.test_multi_source import assert_the_held_out_target_never_reaches_training

REAL_ROOT = data_root()  # before any test points $BENCH_DATA elsewhere
DOMAINS = ["vlcs-mini/caltech", "vlcs-mini/labelme", "vlcs-mini/sun"]


def cells():
    suite = load_suite(REPO / "suites" / "domainbed-vlcs-mini.yaml")
    return suite, expand(suite)


def test_the_suite_is_leave_one_domain_out_over_the_three_domains():
    suite, grid = cells()
    strategies = {c.strategy for c in grid}
    assert "erm" in strategies and len(strategies) == 3  # ERM and two DG algorithms
    assert len(suite.seeds) == 3
    assert len(grid) == len(DOMAINS) * len(strategies) * len(suite.seeds)
    got = {(c.target_domain, c.strategy, c.seed) for c in grid}
    assert got == set(itertools.product(DOMAINS, strategies, suite.seeds))
    for c in grid:  # the other two domains are the sources, the held-out one never
        assert sorted(c.source_domain.split("+")) == [d for d in DOMAINS if d != c.target_domain]
        assert c.label_budget == 0 and c.protocol == "joint"
        # DomainBed's selection needs checkpoints: source_val and the oracle pick among them
        assert c.checkpoints > 0 and c.selection == "last"
        assert c.backbone.name == "efficientnet_lite0" and c.backbone.pretrained
    assert len({c.key() for c in grid}) == len(grid)


@pytest.mark.skipif(not all((REAL_ROOT / "vlcs-mini" / f.local).exists() for f in SOURCES["vlcs-mini"].files),
                    reason=f"vlcs-mini not in {REAL_ROOT} (`bench data fetch vlcs-mini` puts it there)")
def test_no_held_out_photo_reaches_training(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA", str(REAL_ROOT))
    _, grid = cells()
    for c in grid:
        if c.seed == 0:  # every held-out domain x algorithm; the seed changes only the draw
            assert_the_held_out_target_never_reaches_training(c, tmp_path)
