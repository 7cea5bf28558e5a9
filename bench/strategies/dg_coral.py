"""``dg_coral``: DomainBed's CORAL (Sun & Saenko, 2016, in its multi-domain form): the mean and
covariance of the features of every pair of *source* domains matched, the held-out target never
seen. (``coral`` is the domain-adaptation one, which aligns the source with the target.)

distance(x, y) = mean_k (mu_x - mu_y)_k^2 + mean_kl (C_x - C_y)_kl^2, C the unbiased covariance;
loss = mean_e CE_e + mmd_gamma x the distance averaged over the pairs of source domains."""
import torch
from pydantic import Field

from bench.search import loguniform
from bench.strategies._dg import AlignmentStrategy, DGStrategy
from bench.strategies.base import STRATEGIES, Hparams


def mean_cov_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """DomainBed's ``mmd`` with ``kernel_type = "mean_cov"``: squared mean gap and squared
    covariance gap, each averaged over its entries."""
    mx, my = x.mean(0, keepdim=True), y.mean(0, keepdim=True)
    cx, cy = x - mx, y - my
    cov_x, cov_y = cx.T @ cx / max(1, len(x) - 1), cy.T @ cy / max(1, len(y) - 1)
    return (mx - my).pow(2).mean() + (cov_x - cov_y).pow(2).mean()


class DGCoralHparams(Hparams):
    mmd_gamma: float = Field(1.0, ge=0)


@STRATEGIES.register("dg_coral")
class DGCoral(AlignmentStrategy):
    Hparams = DGCoralHparams
    search_space = {**DGStrategy.search_space, "mmd_gamma": loguniform(1e-1, 1e1)}

    def distance(self, x, y):
        return mean_cov_distance(x, y)
