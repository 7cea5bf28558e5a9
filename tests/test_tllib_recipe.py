"""The pieces the Transfer-Learning-Library digits recipe needs (issue 20): per-pair and per-entry
training fields, per-entry backbone fields, the DAN neck, the batch-normed discriminator, the
linear-time MK-MMD, ``erm``; and one short cell of the recipe on real MNIST -> USPS."""
from __future__ import annotations

import pytest
import torch

from bench.backbones import BackboneSpec, create_model
from bench.plan.cells import expand
from bench.plan.suite import Suite, SuiteError, load_suite
from bench.strategies import STRATEGIES
from bench.strategies._alignment import DomainDiscriminator, gaussian_bandwidths, mk_mmd
from bench.train.config import TrainConfig, override
from bench.train.loop import make_optimizer
from tests.conftest import REPO

BASE = {"name": "t", "backbones": ["small_cnn"], "strategies": ["dann"],
        "pairs": ["synth-digits -> digits"], "label_budgets": [0], "seeds": [0]}


def test_pair_and_entry_fields_reach_the_cells_and_leave_other_keys_alone():
    plain = expand(Suite.model_validate(BASE))[0]
    suite = Suite.model_validate({**BASE, "strategies": [
        "dann", {"name": "erm", "adapt": {"weight_decay": 5e-4}, "backbone": {"bottleneck": 8}}],
        "pairs": [{"source": "synth-digits", "target": "digits", "train": {"lr": 0.1}}, "digits -> synth-digits"]})
    cells = {(c.strategy, c.pair): c for c in expand(suite)}
    over = cells[("dann", "synth-digits->digits")]
    assert over.adapt.lr == over.source.lr == 0.1  # the pair's fields: both stages
    assert cells[("dann", "digits->synth-digits")].key() != over.key()
    erm = cells[("erm", "digits->synth-digits")]
    assert (erm.adapt.weight_decay, erm.adapt.lr, erm.source.weight_decay) == (5e-4, suite.adapt.lr, 0.0)
    assert erm.backbone.bottleneck == 8 and cells[("dann", "digits->synth-digits")].backbone.bottleneck is None
    # a cell that uses none of the new fields keeps the key it had before they existed
    assert cells[("dann", "synth-digits->digits")].key() != plain.key()
    assert expand(Suite.model_validate({**BASE, "pairs": [{"source": "synth-digits", "target": "digits"}]}))[0].key() \
        == plain.key()


@pytest.mark.parametrize("change, expected", [
    ({"pairs": [{"source": "synth-digits", "target": "digits", "train": {"lrr": 0.1}}]}, "lrr"),
    ({"strategies": [{"name": "dann", "adapt": {"weight_decay": -1}}]}, "weight_decay"),
    ({"strategies": [{"name": "dann", "backbone": {"name": "mlp"}}]}, "name"),
    ({"strategies": [{"name": "dann", "backbone": {"bottleneck_kind": "x"}}]}, "bottleneck_kind"),
])
def test_bad_pair_or_entry_fields_are_one_line_naming_the_field(tmp_path, change, expected):
    import yaml
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({**BASE, **change}))
    with pytest.raises(SuiteError, match=expected) as e:
        load_suite(p)
    assert "\n" not in str(e.value)


def test_override_recomputes_steps_from_epochs():
    cfg = TrainConfig(epochs=20, iterations_per_epoch=2500)
    assert override(cfg, {"lr": 0.1}).steps == 50_000
    assert override(cfg, {"iterations_per_epoch": 25}).steps == 500
    assert override(cfg, {"steps": 7}).steps == 7


def test_annealed_lr_at_step_k_is_its_closed_form_with_nesterov():
    cfg = TrainConfig(lr=0.1, optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=1e-3,
                      schedule="anneal", anneal_gamma=1e-3, anneal_power=0.75, steps=100)
    w = torch.nn.Parameter(torch.zeros(3))
    step = [0]
    opt = make_optimizer([w], cfg, clock=lambda: step[0])
    for k in range(60):
        step[0] = k
        w.grad = torch.ones(3)
        opt.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * (1 + 1e-3 * k) ** -0.75, rel=1e-12)
    assert opt.param_groups[0]["nesterov"] and opt.param_groups[0]["weight_decay"] == 1e-3


def test_bottleneck_kinds_and_the_spec_dump_without_the_default():
    bn = create_model(BackboneSpec(name="lenet", bottleneck=256), 10, in_chans=1)
    dan = create_model(BackboneSpec(name="lenet", bottleneck=256, bottleneck_kind="relu_dropout"), 10, in_chans=1)
    assert [type(m).__name__ for m in bn.neck] == ["Linear", "BatchNorm1d", "ReLU"]
    assert [type(m).__name__ for m in dan.neck] == ["Linear", "ReLU", "Dropout"]
    assert dan.neck[2].p == 0.5 and dan.head.in_features == 256
    assert "bottleneck_kind" not in BackboneSpec(name="lenet", bottleneck=256).model_dump()


def test_batch_normed_discriminator_and_hparams_dumps_omit_new_fields_at_default():
    d = DomainDiscriminator(5, 7, batch_norm=True)
    assert [type(m).__name__ for m in d.net] == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d",
                                                 "ReLU", "Linear"]
    assert "disc_bn" not in STRATEGIES.get("dann").validate_hparams({})
    assert STRATEGIES.get("cdan").validate_hparams({"disc_bn": True})["disc_bn"] is True
    assert "estimate" not in STRATEGIES.get("dan").validate_hparams({})


def test_linear_time_mk_mmd_is_tlls_index_matrix_sum():
    g = torch.Generator().manual_seed(0)
    fs, ft = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g) + 1
    z = torch.cat([fs, ft])
    d2 = torch.cdist(z, z).pow(2)
    bw = gaussian_bandwidths(d2, 5, 2.0, "mean")
    k = sum(torch.exp(-d2 / s) for s in bw)
    n, index = 6, torch.zeros(12, 12)
    for i in range(n):  # tllib/alignment/dan.py _update_index_matrix, linear=True
        s1, s2 = i, (i + 1) % n
        index[s1, s2] = index[s1 + n, s2 + n] = 1 / n
        index[s1, s2 + n] = index[s2, s1 + n] = -1 / n
    expected = (k * index).sum()
    assert mk_mmd(fs, ft, centre="mean", estimate="linear").item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="equal batches"):
        mk_mmd(fs, ft[:5], estimate="linear")


def _fetched(*names: str) -> bool:
    from bench import sources

    return all((sources.data_root() / n / f.local).exists() for n in names for f in sources.SOURCES[n].files)


@pytest.mark.slow
@pytest.mark.skipif(not _fetched("mnist-full", "usps"), reason="mnist-full and usps not fetched "
                    "(`bench data fetch mnist-full usps` puts them in $BENCH_DATA)")
def test_a_short_cell_of_the_cpu_recipe_runs_on_real_mnist_and_usps(tmp_path):
    """suites/tllib-digits-cpu.yaml's source-only entry (erm) on its two real pairs, 10 steps
    instead of 1,000: the rows are results, and each is the cell the recipe defines (LeNet at 28 px,
    the pair, that direction's lr); accuracy levels after 10 steps are not asserted."""
    import yaml

    from bench.cell.run_cell import cached_domain
    from bench.plan.suite import SuiteLoader
    from bench.run.api import run, suite_from

    raw = yaml.load((REPO / "suites" / "tllib-digits-cpu.yaml").read_text(), SuiteLoader)
    raw["strategies"] = [s for s in raw["strategies"] if s["name"] == "erm"]  # the recipe's own entry
    short = ["seeds=[0]", "adapt.epochs=1", "adapt.iterations_per_epoch=10", "checkpoints=1"]
    rows = run(raw, tmp_path / "r", overrides=short, device="cpu")
    cells = {c.key(): c for c in expand(suite_from(raw, short))}
    assert len(rows) == 2 and set(rows.cell_key) == set(cells)
    lr = {("mnist-full", "usps@28"): 0.01, ("usps@28", "mnist-full"): 0.1}  # TLL's dann.sh, per direction
    for row in rows.itertuples():
        assert row.status == "ok", row.error
        assert 0 <= row.target_acc <= 100 and 0 <= row.source_acc_after <= 100
        cell = cells[row.cell_key]
        assert (row.backbone, row.strategy, row.protocol, row.steps, row.batch_size) == ("lenet", "erm", "joint", 10, 128)
        assert cell.adapt.lr == lr[(row.source_domain, row.target_domain)]
        assert (cell.adapt.optimizer, cell.adapt.momentum, cell.adapt.nesterov, cell.adapt.schedule) == \
            ("sgd", 0.9, True, "anneal")
        for name in (row.source_domain, row.target_domain):
            assert cached_domain(name).input_shape == (1, 28, 28)  # MNIST native, USPS resized
