"""``mixup``: inter-domain mixup (Xu et al., 2020; Yan et al., 2020), as DomainBed runs it.

The domains are put in a random cyclic order; each domain i is mixed with the next one j:
x = lam * x_i + (1 - lam) * x_j (the first min(n_i, n_j) examples of each), lam ~ Beta(alpha, alpha)
drawn per pair, and the loss is lam * CE(f(x), y_i) + (1 - lam) * CE(f(x), y_j), averaged over the
D pairs. Inputs are mixed as the model sees them (floats in [0, 1])."""
import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from bench.search import loguniform
from bench.strategies._dg import DGStrategy, Minibatches
from bench.strategies.base import STRATEGIES, Hparams


def domain_pairs(batches: Minibatches, gen: torch.Generator) -> list[tuple[tuple, tuple]]:
    """DomainBed's random pairs: a random order of the domains, each paired with its successor
    (the last with the first), both cut to the shorter length."""
    perm = torch.randperm(len(batches), generator=gen).tolist()
    pairs = []
    for i in range(len(batches)):
        (xi, yi), (xj, yj) = batches[perm[i]], batches[perm[(i + 1) % len(batches)]]
        n = min(len(yi), len(yj))
        pairs.append(((xi[:n], yi[:n]), (xj[:n], yj[:n])))
    return pairs


class MixupHparams(Hparams):
    alpha: float = Field(0.2, gt=0)


@STRATEGIES.register("mixup")
class Mixup(DGStrategy):
    Hparams = MixupHparams
    search_space = {**DGStrategy.search_space, "alpha": loguniform(1e-1, 1e1)}

    def setup(self) -> None:
        super().setup()
        self.gen = torch.Generator().manual_seed(self.ctx.seed + 7)
        self.rng = np.random.default_rng(self.ctx.seed + 7)

    def dg_loss(self, batches, step):
        batches = [(as_float(x), y) for x, y in batches]
        loss = 0.0
        for (xi, yi), (xj, yj) in domain_pairs(batches, self.gen):
            lam = float(self.rng.beta(self.hp.alpha, self.hp.alpha))
            out = self.model(lam * xi + (1 - lam) * xj)
            loss = loss + lam * F.cross_entropy(out, yi) + (1 - lam) * F.cross_entropy(out, yj)
        return loss / len(batches), {}


def as_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images as the [0, 1] floats the model would make of them (a float mix of two uint8
    images must not be divided by 255 a second time)."""
    return x.float() / 255 if x.dtype == torch.uint8 else x
