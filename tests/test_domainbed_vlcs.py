"""``suites/domainbed-vlcs-mini.yaml``: DomainBed's VLCS protocol on the offline 3-domain sample
(issue 21). The suite expands to leave-one-domain-out cells only -- every domain held out in turn,
the other two as sources, for each algorithm and seed --, plus, in an ``also`` grid, the validation
cells of DomainBed's leave-one-domain-out validation for ERM alone (exactly those
``lodo_validation: true`` would add to ERM), which leave the main cells' keys as they were; and,
where vlcs-mini is fetched, none of a cell's target photos reaches its training (the general check
of tests/test_multi_source.py, run on this suite's cells)."""
from __future__ import annotations

import itertools

import pandas as pd
import pytest

from bench.analysis.report.lodo import validation_cells
from bench.plan.cells import expand, identity_row
from bench.plan.suite import Suite, load_suite
from bench.sources import SOURCES, data_root
from tests.conftest import REPO
from tests.test_multi_source import assert_the_held_out_target_never_reaches_training

REAL_ROOT = data_root()  # before any test points $BENCH_DATA elsewhere
DOMAINS = ["vlcs-mini/caltech", "vlcs-mini/labelme", "vlcs-mini/sun"]


SUITE = REPO / "suites" / "domainbed-vlcs-mini.yaml"


def cells():
    suite = load_suite(SUITE)
    return suite, expand(suite)


def main_grid():
    """The suite without its leave-one-out validation grid (``also``): the cells it had before."""
    suite = load_suite(SUITE, overrides=["also=[]"])
    return suite, expand(suite)


def test_the_suite_is_leave_one_domain_out_over_the_three_domains():
    suite, grid = main_grid()
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


def test_the_erm_validation_cells_come_after_the_main_cells_and_leave_their_keys_alone():
    suite, grid = cells()
    _, main = main_grid()
    assert [c.key() for c in grid[:len(main)]] == [c.key() for c in main]  # the golden keys
    extra = grid[len(main):]
    # exactly the cells that lodo_validation: true adds for ERM: the same suite with ERM alone
    raw = {**suite.model_dump(), "also": [], "strategies": ["erm"],
           "pairs": [{"leave_one_out": DOMAINS, "lodo_validation": True}]}
    with_lodo = expand(Suite.model_validate(raw))
    wanted = [c for c in with_lodo if "+" not in c.source_domain]  # its validation cells
    assert len(with_lodo) - len(wanted) == len(DOMAINS) * len(suite.seeds)  # ... beside ERM's mains
    assert [c.key() for c in extra] == [c.key() for c in wanted]
    assert {c.strategy for c in extra} == {"erm"}
    assert len(extra) == len(DOMAINS) * (len(DOMAINS) - 1) * len(suite.seeds)  # k (k - 1) per seed
    for c in extra:  # one source: neither the validation target nor the held-out domain it stands for
        assert c.source_domain in DOMAINS and c.source_domain != c.target_domain
        assert c.protocol_hash() == main[0].protocol_hash()  # one protocol: a resume into the old results
    # the report's leave_one_out rule finds both validation cells of every ERM main cell, and of no other
    rows = pd.DataFrame([{**identity_row(c), "status": "ok"} for c in grid])
    found = validation_cells(rows)
    erm = {c.key() for c in main if c.strategy == "erm"}
    assert set(found) == erm
    by_key = {c.key(): c for c in grid}
    for key, helpers in found.items():
        m = by_key[key]
        assert sorted(by_key[h].target_domain for h in helpers) == sorted(m.source_domain.split("+"))
        assert all(by_key[h].seed == m.seed for h in helpers)


@pytest.mark.skipif(not all((REAL_ROOT / "vlcs-mini" / f.local).exists() for f in SOURCES["vlcs-mini"].files),
                    reason=f"vlcs-mini not in {REAL_ROOT} (`bench data fetch vlcs-mini` puts it there)")
def test_no_held_out_photo_reaches_training(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA", str(REAL_ROOT))
    _, grid = cells()
    for c in grid:
        if c.seed == 0:  # every held-out domain x algorithm; the seed changes only the draw
            assert_the_held_out_target_never_reaches_training(c, tmp_path)
