"""Multi-source cells (domain generalization, DomainBed's setting): the suite grammar, pooled
source domains with each example's domain index, batches balanced over the source domains, the
index reaching the strategy, and the held-out target never reaching a DG strategy's training."""
from __future__ import annotations

import pytest
import torch

from bench.cell.run_cell import _build_strategy, _prepare, run_cell
from bench.cell.source_stage import TrainedSource
from bench.data import load_domain
from bench.data.base import Split
from bench.data.sampler import Sampler
from bench.plan.cells import expand
from bench.plan.suite import Suite

DOMS = ["moons", "moons-rot/30", "moons-rot/60"]


def suite(pairs, strategies=("erm",), **kw):
    return Suite(name="dg-test", backbones=[{"name": "mlp", "kwargs": {"hidden": 16}}],
                 strategies=list(strategies), pairs=pairs, label_budgets=[0], protocol="joint",
                 source={"steps": 5, "batch_size": 8, "lr": 0.01},
                 adapt={"steps": 5, "batch_size": 8, "lr": 0.01}, **kw)


def test_grammar_several_sources_and_leave_one_domain_out():
    s = suite(["moons, moons-rot/30 -> moons-rot/60", {"sources": ["moons", "moons-rot/60"], "target": "moons-rot/30"}])
    assert [(p.sources, p.target) for p in s.pairs] == [(["moons", "moons-rot/30"], "moons-rot/60"),
                                                        (["moons", "moons-rot/60"], "moons-rot/30")]
    loo = suite([{"leave_one_out": DOMS}]).pairs
    assert [p.target for p in loo] == DOMS
    for p in loo:  # every other domain is a source, in the listed order
        assert p.sources == [d for d in DOMS if d != p.target]
    # a single-source pair spelled either way is the same cell (same key)
    one = expand(suite(["moons -> moons-rot/30"]))[0]
    other = expand(suite([{"source": "moons", "target": "moons-rot/30"}]))[0]
    assert one.key() == other.key() and one.source_domain == "moons"


@pytest.mark.parametrize("bad", ["moons, moons-rot/30 -> moons", "moons, moons -> moons-rot/30",
                                 {"leave_one_out": ["moons"]}])
def test_a_domain_named_twice_or_a_one_domain_list_is_refused(bad):
    with pytest.raises(ValueError):
        suite([bad])


def test_one_source_equal_to_the_target_is_the_no_shift_control():
    (p,) = suite(["moons -> moons"]).pairs
    assert (p.sources, p.target) == (["moons"], "moons")


def test_pooled_domain_keeps_each_examples_domain_index():
    pooled = load_domain("moons+moons-rot/30")
    parts = [load_domain(d) for d in ("moons", "moons-rot/30")]
    for split in ("train", "val", "test"):
        sp = getattr(pooled, split)
        sizes = [len(getattr(p, split)) for p in parts]
        assert len(sp) == sum(sizes)
        assert torch.bincount(sp.domain).tolist() == sizes
        for d, p in enumerate(parts):  # the rows of domain d are that domain's rows, in order
            assert torch.equal(sp.x[sp.domain == d], getattr(p, split).x)


def test_balanced_batches_take_batch_size_from_every_domain():
    dom = torch.tensor([0] * 50 + [1] * 7 + [2] * 30)
    x = torch.arange(len(dom))
    s = Sampler(x, dom.clone(), 8, seed=3, device="cpu", domains=dom)
    # at most the domain's own size from a small domain (DomainBed's per-domain minibatches)
    assert torch.bincount(s.batch_domains).tolist() == [8, 7, 8]
    first_epoch = []
    for _ in range(20):
        xb, yb = s.next()
        assert torch.equal(dom[xb], s.batch_domains) and torch.equal(yb, s.batch_domains)
        first_epoch.append(xb)
    # each domain is drawn without replacement within its epoch (30 // 8 = 3 full batches for domain 2)
    firsts = torch.cat(first_epoch[:3])
    for d in (0, 2):
        assert len(firsts[dom[firsts] == d].unique()) == 3 * 8
    again = Sampler(x, dom.clone(), 8, seed=3, device="cpu", domains=dom)
    first = Sampler(x, dom.clone(), 8, seed=3, device="cpu", domains=dom).next()[0]
    assert torch.equal(again.next()[0], first)  # seeded


def test_a_single_domain_draws_exactly_as_before():
    x = torch.arange(40)
    a, b = Sampler(x, x, 8, 5, "cpu"), Sampler(x, x, 8, 5, "cpu", domains=torch.zeros(40, dtype=torch.long))
    for _ in range(7):
        assert torch.equal(a.next()[0], b.next()[0])
    assert b.batch_domains is None


def _examples(x: torch.Tensor) -> list[bytes]:
    """Each example (a feature row or a whole image) as bytes, to compare by identity of content."""
    return [e.numpy().tobytes() for e in x.contiguous()]


def assert_the_held_out_target_never_reaches_training(cell, tmp_path, draws: int = 5) -> None:
    """A DG cell's strategy gets no target example, and each of its mini-batches holds examples of
    its own source domain only, none of the held-out domain's (train, val or test). Also used on
    the suites that hold such cells (tests/test_domainbed_vlcs.py)."""
    setting = _prepare(cell, "cpu", tmp_path, None, {})
    labeled = torch.arange(len(setting.target.train))
    trained = TrainedSource(source_key=f"initial-{cell.source_key()}", wall_s=0.0, cached=False)
    strategy, ctx, _ = _build_strategy(setting, torch.nn.Identity(), trained, labeled)
    assert len(ctx.target_unlabeled_x) == 0 and len(ctx.target_labeled) == 0  # nothing to reach
    sources = cell.source_domain.split("+")
    assert cell.target_domain not in sources
    parts = [set(_examples(load_domain(d).train.x)) for d in sources]
    target_rows = set(_examples(torch.cat([setting.target.train.x, setting.target.val.x, setting.target.test.x])))
    strategy.num_domains = ctx.num_source_domains
    assert strategy.num_domains == len(sources)
    for _ in range(draws):
        batches = strategy.minibatches()
        assert len(batches) == len(sources)
        for d, (x, _) in enumerate(batches):  # minibatch d holds rows of source domain d only
            assert len(x) and all(e in parts[d] for e in _examples(x))
            assert not any(e in target_rows for e in _examples(x))


def test_the_strategy_sees_each_examples_domain_and_never_the_held_out_target(tmp_path):
    cell = expand(suite([{"leave_one_out": DOMS}]))[0]  # moons held out
    assert cell.target_domain == "moons" and cell.source_domain == "moons-rot/30+moons-rot/60"
    assert_the_held_out_target_never_reaches_training(cell, tmp_path)
    row = run_cell(cell, tmp_path)
    assert row["status"] == "ok", row["error"]
    assert row["source_domain"] == "moons-rot/30+moons-rot/60" and row["target_domain"] == "moons"
