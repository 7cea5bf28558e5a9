"""DomainBed's RotatedMNIST and ColoredMNIST (bench/data/domainbed_mnist.py) on generated images:
the definitions (label flip and colour agreement rates within binomial bounds, rotations of the
right pooled images, disjoint environments, 80 / 20 splits), equality with a transcription of
DomainBed's own code run on its global generator, and the real domains where mnist-full is fetched.
Nothing here downloads."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from bench import sources
from bench.data import domainbed_mnist as dbm
from bench.data.base import load_domain

N = 1200  # generated "MNIST": distinct random images, digits 0..9


@pytest.fixture(scope="module")
def mnist_like() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N, 28, 28), dtype=np.uint8)
    return images, rng.integers(0, 10, size=N).astype(np.int64)


def within_binomial(successes: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(successes - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


# --- DomainBed's code, transcribed (domainbed/datasets.py, MIT licence) -------------------------

def domainbed_reference(images: np.ndarray, labels: np.ndarray, environments: list, transform, seed: int):
    """``MultipleEnvironmentMNIST.__init__`` as DomainBed writes it, on the global torch generator
    seeded as its ``train.py`` seeds it, with the two MNIST loaders replaced by the arrays."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        original_images, original_labels = torch.as_tensor(images), torch.as_tensor(labels)
        shuffle = torch.randperm(len(original_images))
        original_images, original_labels = original_images[shuffle], original_labels[shuffle]
        out = []
        for i in range(len(environments)):
            imgs = original_images[i::len(environments)]
            labs = original_labels[i::len(environments)]
            out.append(transform(imgs, labs, environments[i]))
        return out


def domainbed_color_dataset(images, labels, environment):
    def torch_bernoulli_(p, size):
        return (torch.rand(size) < p).float()

    def torch_xor_(a, b):
        return (a - b).abs()

    labels = (labels < 5).float()
    labels = torch_xor_(labels, torch_bernoulli_(0.25, len(labels)))
    colors = torch_xor_(labels, torch_bernoulli_(environment, len(labels)))
    images = torch.stack([images, images], dim=1)
    images[torch.tensor(range(len(images))), (1 - colors).long(), :, :] *= 0
    return images.float().div_(255.0), labels.view(-1).long()


def domainbed_rotate_dataset(images, labels, angle):
    from torchvision import transforms
    from torchvision.transforms.functional import rotate

    rotation = transforms.Compose([
        transforms.ToPILImage(),
        transforms.Lambda(lambda x: rotate(x, angle, fill=(0,),
                                           interpolation=transforms.InterpolationMode.BILINEAR)),
        transforms.ToTensor()])
    x = torch.zeros(len(images), 1, 28, 28)
    for i in range(len(images)):
        x[i] = rotation(images[i])
    return x, labels.view(-1)


# --- ColoredMNIST -----------------------------------------------------------------------------

def test_colored_mnist_environments_follow_the_definition(mnist_like):
    images, digits = mnist_like
    envs = dbm.colored_mnist(images, digits)
    assert len(envs) == 3
    seen = torch.cat([idx for _, _, idx in envs])
    assert sorted(seen.tolist()) == list(range(N))  # disjoint, and together every image once
    for (x, y, idx), flip in zip(envs, dbm.COLOUR_FLIP.values()):
        n = len(y)
        assert n in (N // 3, N // 3 + 1) and x.shape == (n, 2, 28, 28) and x.dtype == torch.uint8
        original = torch.as_tensor(images)[idx]
        kept = x.flatten(2).amax(-1) > 0  # [n, 2]: which channel holds the digit
        assert torch.equal(kept.sum(1), torch.ones(n, dtype=torch.long))  # exactly one colour
        colour = kept[:, 1].long()
        assert torch.equal(x[torch.arange(n), colour], original)  # the digit, untouched, in its colour
        assert not x[torch.arange(n), 1 - colour].any()
        clean = (torch.as_tensor(digits)[idx] < 5).long()
        assert within_binomial(int((y != clean).sum()), n, dbm.LABEL_FLIP)
        assert within_binomial(int((colour == y).sum()), n, 1 - flip)


def test_colored_mnist_flip_rates_over_a_larger_sample():
    # 6,000 blank 1x1-content images: enough draws that 5 sigma separates 0.9 from 0.8
    rng = np.random.default_rng(1)
    images = np.zeros((6000, 28, 28), dtype=np.uint8)
    images[:, 14, 14] = 255
    digits = rng.integers(0, 10, size=6000)
    for (x, y, idx), flip in zip(dbm.colored_mnist(images, digits), dbm.COLOUR_FLIP.values()):
        colour = (x[:, 1, 14, 14] > 0).long()
        clean = (torch.as_tensor(digits)[idx] < 5).long()
        assert within_binomial(int((y != clean).sum()), len(y), dbm.LABEL_FLIP)
        assert within_binomial(int((colour == y).sum()), len(y), 1 - flip)
        assert not within_binomial(int((colour == y).sum()), len(y), flip)  # the bound tells them apart


@pytest.mark.numeric
def test_colored_mnist_equals_domainbeds_code(mnist_like):
    images, digits = mnist_like
    ours = dbm.colored_mnist(images, digits, seed=0)
    theirs = domainbed_reference(images, digits, [0.1, 0.2, 0.9], domainbed_color_dataset, seed=0)
    for (x, y, _), (tx, ty) in zip(ours, theirs):
        assert torch.equal(y, ty)
        assert torch.equal(x.float() / 255.0, tx)  # what the backbone makes of our uint8


# --- RotatedMNIST -----------------------------------------------------------------------------

@pytest.mark.numeric
def test_rotated_mnist_rotates_the_pooled_images_at_i_mod_6(mnist_like):
    images, digits = mnist_like
    envs = dbm.rotated_mnist(images, digits)
    shuffle = torch.randperm(N, generator=torch.Generator().manual_seed(dbm.SEED))
    seen = []
    for i, ((x, y, idx), angle) in enumerate(zip(envs, dbm.ANGLES)):
        assert torch.equal(idx, shuffle[i::6]) and torch.equal(y, torch.as_tensor(digits)[idx])
        assert x.shape == (len(idx), 1, 28, 28) and x.dtype == torch.uint8
        for j in (0, len(idx) // 2, len(idx) - 1):  # PIL's own bilinear rotation, corners filled 0
            want = Image.fromarray(images[int(idx[j])]).rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=0)
            assert np.array_equal(x[j, 0].numpy(), np.asarray(want))
        seen.append(idx)
    assert sorted(torch.cat(seen).tolist()) == list(range(N))  # disjoint, every image once
    assert torch.equal(envs[0][0][:, 0], torch.as_tensor(images)[envs[0][2]])  # 0 degrees: unchanged


@pytest.mark.numeric
def test_rotated_mnist_equals_domainbeds_code(mnist_like):
    images, digits = mnist_like
    ours = dbm.rotated_mnist(images[:240], digits[:240], seed=0)
    theirs = domainbed_reference(images[:240], digits[:240], list(dbm.ANGLES), domainbed_rotate_dataset, 0)
    for (x, y, _), (tx, ty) in zip(ours, theirs):
        assert torch.equal(y, ty) and torch.equal(x.float() / 255.0, tx)


def test_the_shuffle_is_domainbeds_global_generator_draw():
    with torch.random.fork_rng():
        torch.manual_seed(dbm.SEED)  # DomainBed's train.py, just before the dataset is built
        want = torch.randperm(70000)
    got = torch.randperm(70000, generator=torch.Generator().manual_seed(dbm.SEED))
    assert torch.equal(got, want)


# --- splits -----------------------------------------------------------------------------------

def test_seed_hash_is_domainbeds_md5():
    import hashlib

    assert dbm.seed_hash(0, 3) == int(hashlib.md5(b"(0, 3)").hexdigest(), 16) % 2 ** 31


@pytest.mark.parametrize("n, env_index", [(11667, 0), (11666, 5), (23334, 0), (101, 2)])
def test_holdout_split_is_80_20_and_disjoint(n, env_index):
    ins, outs = dbm.holdout_split(n, env_index)
    assert len(outs) == int(n * 0.2) and len(ins) == n - len(outs)
    assert sorted(np.concatenate([ins, outs]).tolist()) == list(range(n))
    keys = list(range(n))  # DomainBed's misc.split_dataset: the first int(n * 0.2) of the shuffle
    np.random.RandomState(dbm.seed_hash(0, env_index)).shuffle(keys)
    assert outs.tolist() == keys[: len(outs)]
    other = dbm.holdout_split(n, env_index + 1)[1]
    assert outs.tolist() != other.tolist()  # each environment has its own split


def test_environment_domain_val_is_the_out_split_and_test_the_in_split(mnist_like):
    images, digits = mnist_like
    env = dbm.colored_mnist(images, digits)[2]
    d = dbm.environment_domain("cmnist/-90", env, 2, dbm.CMNIST_CLASSES, {})
    n = len(env[1])
    assert len(d.val) == int(n * 0.2) and len(d.train) == n - len(d.val) and d.input_shape == (2, 28, 28)
    ins, outs = dbm.holdout_split(n, 2)
    ins, outs = torch.from_numpy(ins), torch.from_numpy(outs)
    assert torch.equal(d.train.x, env[0][ins]) and torch.equal(d.val.y, env[1][outs])
    assert torch.equal(d.test.x, d.train.x) and torch.equal(d.test.y, d.train.y)


def test_names_fit_the_pair_grammar():
    from bench.plan.suite import parse_pair

    cm = [f"cmnist/{e}" for e in dbm.COLOUR_FLIP]
    (pair,) = parse_pair(f"{cm[0]}, {cm[1]} -> {cm[2]}")
    assert pair == {"source": f"{cm[0]}+{cm[1]}", "target": cm[2]}
    assert len(parse_pair({"leave_one_out": [f"rmnist/{a}" for a in dbm.ANGLES]})) == 6


# --- the real domains, where mnist-full is fetched --------------------------------------------

REAL_ROOT = sources.data_root()


def fetched() -> bool:
    return all((REAL_ROOT / "mnist-full" / f.local).exists() for f in sources.SOURCES["mnist-full"].files)


@pytest.mark.slow
@pytest.mark.skipif(not fetched(), reason=f"mnist-full not in {REAL_ROOT} "
                    "(`bench data fetch mnist-full` puts it there; $BENCH_DATA moves it)")
def test_real_domains_sizes_and_pooling(monkeypatch):
    monkeypatch.setenv("BENCH_DATA", str(REAL_ROOT))
    sizes = {f"rmnist/{a}": 11667 if i < 4 else 11666 for i, a in enumerate(dbm.ANGLES)}
    sizes.update({"cmnist/90": 23334, "cmnist/80": 23333, "cmnist/-90": 23333})
    for name, n in sizes.items():
        d = load_domain(name)
        assert len(d.train) + len(d.val) == n and len(d.val) == int(n * 0.2)
    cm = load_domain("cmnist/90+cmnist/80")
    assert torch.bincount(cm.train.domain).tolist() == [23334 - 4666, 23333 - 4666]
    assert cm.input_shape == (2, 28, 28) and cm.classes == dbm.CMNIST_CLASSES


# --- DomainBed's MNIST_CNN --------------------------------------------------------------------

def test_mnist_cnn_is_domainbeds_architecture():
    from torch import nn

    from bench.backbones.base import BACKBONES, BackboneSpec

    model = BACKBONES.get("mnist_cnn")(BackboneSpec(name="mnist_cnn"), 2, 2)
    convs = [m for m in model.backbone.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride) for c in convs] == [
        (2, 64, (1, 1)), (64, 128, (2, 2)), (128, 128, (1, 1)), (128, 128, (1, 1))]
    for block in model.backbone[:4]:  # conv -> ReLU -> GroupNorm(8), DomainBed's order
        assert [type(m) for m in block] == [nn.Conv2d, nn.ReLU, nn.GroupNorm] and block[2].num_groups == 8
    conv = sum(c.in_channels * c.out_channels * 9 + c.out_channels for c in convs)
    norms = 2 * (64 + 3 * 128)
    assert sum(p.numel() for p in model.parameters()) == conv + norms + 128 * 2 + 2  # + the head
    x = torch.zeros(3, 2, 28, 28, dtype=torch.uint8)
    assert model.features(x).shape == (3, 128) and model(x).shape == (3, 2)
    assert torch.equal(model.prepare(x + 255), torch.ones(3, 2, 28, 28))  # [0, 1], not normalised
