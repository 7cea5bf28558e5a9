"""``dg_mmd``: DomainBed's MMD (Li et al., 2018, MMD-AAE's penalty, in its multi-domain form): a
Gaussian-kernel MMD between the features of every pair of *source* domains, the held-out target
never seen. (``mmd`` is the domain-adaptation one, which aligns the source with the target.)

k(a, b) = sum_g exp(-g ||a - b||^2) over g in 1e-3 .. 1e3 (7 bandwidths, DomainBed's);
MMD(x, y) = mean k(x, x') + mean k(y, y') - 2 mean k(x, y) (every pair, the diagonal included:
the biased estimate); loss = mean_e CE_e + mmd_gamma x MMD averaged over the pairs of source domains."""
import torch
from pydantic import Field

from bench.search import loguniform
from bench.strategies._dg import AlignmentStrategy, DGStrategy
from bench.strategies.base import STRATEGIES, Hparams

GAMMAS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def gaussian_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``[n, m]``: sum over GAMMAS of exp(-g d^2), d^2 the squared distance (clamped at 1e-30)."""
    d2 = (x.pow(2).sum(1, keepdim=True) - 2 * x @ y.T + y.pow(2).sum(1)).clamp_min(1e-30)
    return sum(torch.exp(-g * d2) for g in GAMMAS)


def gaussian_mmd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return gaussian_kernel(x, x).mean() + gaussian_kernel(y, y).mean() - 2 * gaussian_kernel(x, y).mean()


class DGMMDHparams(Hparams):
    mmd_gamma: float = Field(1.0, ge=0)


@STRATEGIES.register("dg_mmd")
class DGMMD(AlignmentStrategy):
    Hparams = DGMMDHparams
    search_space = {**DGStrategy.search_space, "mmd_gamma": loguniform(1e-1, 1e1)}

    def distance(self, x, y):
        return gaussian_mmd(x, y)
