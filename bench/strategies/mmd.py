"""``mmd``: the Gaussian-kernel maximum mean discrepancy (Gretton et al., 2012) between source and
target features, added to the classification loss (as in Long et al.'s DDC/DAN line of work):

    MMD^2 = E k(s, s') + E k(t, t') - 2 E k(s, t),   k(a, b) = exp(-||a - b||^2 / sigma^2)

with the unbiased U-statistic per batch and one kernel whose sigma^2 is the batch's median (or
mean) pairwise squared distance. ``dan`` is the multi-kernel version; ``moments`` is the mean and
covariance matching loss that this name used to denote here.
"""
from typing import Literal

from bench.strategies._alignment import mk_mmd
from bench.strategies._uda import UDAHparams, UDAStrategy
from bench.strategies.base import STRATEGIES


class MMDHparams(UDAHparams):
    #: sigma^2 from the median pairwise squared distance (the median heuristic) or their mean
    bandwidth: Literal["median", "mean"] = "median"


@STRATEGIES.register("mmd")
class MMD(UDAStrategy):
    Hparams = MMDHparams

    def transfer_loss(self, fs, ft, ls, lt):
        return mk_mmd(fs, ft, num_kernels=1, centre=self.hp.bandwidth)
