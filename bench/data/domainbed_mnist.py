"""``rmnist/<0|15|30|45|60|75>`` and ``cmnist/<90|80|-90>``: DomainBed's RotatedMNIST and
ColoredMNIST, built as ``domainbed/datasets.py`` builds them from the 70,000 images of
``mnist-full`` (``bench data fetch mnist-full``).

DomainBed's ``MultipleEnvironmentMNIST``: the 60,000 training and 10,000 test images are pooled
(train first), shuffled with ``torch.randperm`` and environment ``i`` of ``k`` takes every k-th
image of the shuffle (``images[i::k]``). Its ``train.py`` seeds torch's global generator with
``--seed`` (default 0) right before the dataset is built, so the shuffle is the first draw after
``torch.manual_seed(seed)``; here a ``torch.Generator`` seeded with :data:`SEED` makes the same
draws (tests/test_domainbed_mnist.py checks it against the global-generator procedure).

- RotatedMNIST: 6 environments, each rotated by its angle with torchvision's ``rotate`` on the PIL
  image, bilinear interpolation, fill 0 (DomainBed's current code; the commit behind its published
  tables, 7df6f06, used bicubic). 10 classes; 11,667 or 11,666 images per angle.
- ColoredMNIST: 3 environments; label = digit < 5, flipped with probability 0.25; colour = label
  flipped with probability 0.1 / 0.2 / 0.9 (environments +90% / +80% / -90%, named ``cmnist/90``,
  ``cmnist/80``, ``cmnist/-90``: ``+`` joins source domains in a pair); the image is stacked into
  two channels and the channel of the other colour zeroed: ``[2, 28, 28]`` (DomainBed's 2x
  subsampling to 14x14 is commented out in its code, so not here either). The draws of the three
  environments come in order from the one generator, after the shuffle, as in DomainBed.

Splits, as DomainBed's ``train.py`` with ``--holdout_fraction 0.2 --trial_seed 0``: ``val`` is the
environment's 20% "out" split (``misc.split_dataset`` with ``np.random.RandomState(seed_hash(0,
env_index))``), ``train`` the 80% "in" split, and ``test`` is that same "in" split: DomainBed
reports a held-out environment's accuracy on its in-split. Images are stored ``uint8`` (PIL's
rotation returns uint8, and DomainBed's floats are exactly these values / 255, as the backbone makes them).
"""
from __future__ import annotations

import functools
import hashlib

import numpy as np
import torch

from bench.data.base import DOMAINS, Domain, Split
from bench.data.mnist_full import check as check_mnist_full
from bench.data.mnist_full import mnist_full_arrays

#: DomainBed's ``train.py --seed`` default; fixed: every cell must see the same domains (DomainBed's
#: sweeps instead derive a seed per run, so each of its runs saw its own shuffle and colours)
SEED = 0
#: DomainBed's ``--trial_seed`` default, which seeds the in / out split of each environment
TRIAL_SEED = 0
HOLDOUT_FRACTION = 0.2
ANGLES = (0, 15, 30, 45, 60, 75)
LABEL_FLIP = 0.25
#: environment name -> probability that the colour is the label flipped (DomainBed's order)
COLOUR_FLIP = {"90": 0.1, "80": 0.2, "-90": 0.9}
DOMAINBED_NAMES = {"90": "+90%", "80": "+80%", "-90": "-90%"}
CMNIST_CLASSES = ["digit >= 5", "digit < 5"]
SOURCE = "MNIST 70,000 (mnist-full), train then test, as DomainBed's MultipleEnvironmentMNIST"

Environment = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (images, labels, pooled indices)


def seed_hash(*args) -> int:
    """DomainBed's ``misc.seed_hash``: an integer seed from the md5 of ``str(args)``."""
    return int(hashlib.md5(str(args).encode("utf-8")).hexdigest(), 16) % (2 ** 31)


def holdout_split(n: int, env_index: int, trial_seed: int = TRIAL_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(in, out) positions of an environment of ``n`` images, as DomainBed's ``misc.split_dataset``
    with ``int(n * holdout_fraction)`` images out: the first ones of a seeded list shuffle."""
    keys = list(range(n))
    np.random.RandomState(seed_hash(trial_seed, env_index)).shuffle(keys)
    n_out = int(n * HOLDOUT_FRACTION)
    return np.asarray(keys[n_out:], dtype=np.int64), np.asarray(keys[:n_out], dtype=np.int64)


def environments(images: np.ndarray, labels: np.ndarray, k: int,
                 generator: torch.Generator) -> list[Environment]:
    """DomainBed's pooled shuffle: ``images`` (uint8 ``[N, 28, 28]``) permuted by ``randperm``,
    environment i taking positions ``i::k``; each with its images' positions in ``images``."""
    shuffle = torch.randperm(len(images), generator=generator)
    x, y = torch.as_tensor(images)[shuffle], torch.as_tensor(labels, dtype=torch.long)[shuffle]
    return [(x[i::k], y[i::k], shuffle[i::k]) for i in range(k)]


def rotate_images(images: torch.Tensor, angle: float) -> torch.Tensor:
    """uint8 ``[N, 28, 28]`` -> uint8 ``[N, 1, 28, 28]``, each rotated as DomainBed does: the PIL
    image through torchvision's ``rotate``, bilinear, the uncovered corners filled with 0."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.functional import rotate, to_pil_image

    out = np.empty((len(images), 1, *images.shape[1:]), dtype=np.uint8)
    for i, img in enumerate(images):
        pil = rotate(to_pil_image(img), angle, fill=(0,), interpolation=InterpolationMode.BILINEAR)
        out[i, 0] = np.asarray(pil)
    return torch.from_numpy(out)


def rotated_mnist(images: np.ndarray, labels: np.ndarray, seed: int = SEED) -> list[Environment]:
    """The six RotatedMNIST environments (angles :data:`ANGLES`) of these images."""
    envs = environments(images, labels, len(ANGLES), torch.Generator().manual_seed(seed))
    return [(rotate_images(x, angle), y, idx) for (x, y, idx), angle in zip(envs, ANGLES)]


def bernoulli(p: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """DomainBed's ``torch_bernoulli_``: ``(rand(n) < p)`` as floats."""
    return (torch.rand(n, generator=generator) < p).float()


def colour_environment(images: torch.Tensor, digits: torch.Tensor, colour_flip: float,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """DomainBed's ``color_dataset``: (uint8 ``[N, 2, 28, 28]``, binary labels ``[N]``)."""
    labels = (digits < 5).float()
    labels = (labels - bernoulli(LABEL_FLIP, len(labels), generator)).abs()  # xor
    colours = (labels - bernoulli(colour_flip, len(labels), generator)).abs()
    x = torch.stack([images, images], dim=1)
    x[torch.arange(len(x)), (1 - colours).long()] = 0  # keep only the colour's channel
    return x, labels.long()


def colored_mnist(images: np.ndarray, labels: np.ndarray, seed: int = SEED) -> list[Environment]:
    """The three ColoredMNIST environments (:data:`COLOUR_FLIP`, in order) of these images."""
    gen = torch.Generator().manual_seed(seed)
    envs = environments(images, labels, len(COLOUR_FLIP), gen)
    return [(*colour_environment(x, y, flip, gen), idx) for (x, y, idx), flip in zip(envs, COLOUR_FLIP.values())]


def environment_domain(name: str, env: Environment, env_index: int, classes: list[str], info: dict) -> Domain:
    """One environment as a domain: train = test = DomainBed's 80% in-split, val = its 20% out."""
    x, y, _ = env
    ins, outs = (torch.from_numpy(s) for s in holdout_split(len(y), env_index))
    train = Split(x[ins], y[ins])
    return Domain(name=name, modality="image", classes=list(classes), train=train,
                  val=Split(x[outs], y[outs]), test=Split(train.x, train.y),
                  info={"image_size": list(x.shape[1:]), "seed": SEED, "trial_seed": TRIAL_SEED,
                        "holdout_fraction": HOLDOUT_FRACTION, "environment": env_index,
                        "split": "DomainBed: val = the 20% out-split; train = test = the 80% in-split",
                        "source": SOURCE, **info})


@functools.lru_cache(maxsize=1)
def pooled_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 70,000 MNIST images and labels, train then test (read once per process)."""
    (xtr, ytr), (xte, yte) = mnist_full_arrays("train"), mnist_full_arrays("test")
    return np.concatenate([xtr, xte]), np.concatenate([ytr, yte])


@functools.lru_cache(maxsize=1)
def _colored_environments() -> list[Environment]:
    return colored_mnist(*pooled_mnist())


@DOMAINS.register("rmnist/0")
@DOMAINS.register("rmnist/15")
@DOMAINS.register("rmnist/30")
@DOMAINS.register("rmnist/45")
@DOMAINS.register("rmnist/60")
@DOMAINS.register("rmnist/75")
def build_rotated_mnist(name: str) -> Domain:
    """DomainBed's RotatedMNIST environment at this angle (1x28x28, 10 classes); needs mnist-full."""
    angle = int(name.split("/", 1)[1])
    i = ANGLES.index(angle)
    # rotate only this environment's images: the shuffle is the same for every angle
    x, y, idx = environments(*pooled_mnist(), len(ANGLES), torch.Generator().manual_seed(SEED))[i]
    env = (rotate_images(x, angle), y, idx)
    return environment_domain(name, env, i, [str(c) for c in range(10)],
                              {"dataset": "DomainBed RotatedMNIST", "angle": angle,
                               "interpolation": "bilinear"})


@DOMAINS.register("cmnist/90")
@DOMAINS.register("cmnist/80")
@DOMAINS.register("cmnist/-90")
def build_colored_mnist(name: str) -> Domain:
    """DomainBed's ColoredMNIST environment (+90% / +80% / -90%; 2x28x28, 2 classes); needs mnist-full."""
    env_name = name.split("/", 1)[1]
    i = list(COLOUR_FLIP).index(env_name)
    return environment_domain(name, _colored_environments()[i], i, CMNIST_CLASSES,
                              {"dataset": "DomainBed ColoredMNIST", "environment_name": DOMAINBED_NAMES[env_name],
                               "label_flip": LABEL_FLIP, "colour_flip": COLOUR_FLIP[env_name]})


build_rotated_mnist.check = check_mnist_full  # type: ignore[attr-defined]
build_colored_mnist.check = check_mnist_full  # type: ignore[attr-defined]
