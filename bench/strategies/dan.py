"""``dan``: multi-kernel Gaussian MMD (Long et al., 2015) on the backbone features.

``num_kernels`` Gaussian kernels with squared bandwidths c * ``kernel_mul`` ** k around a centre c
(k = -num_kernels//2 ... num_kernels//2), summed with equal weights; the unbiased MMD^2 estimate.
The paper also adapts the logits layer and learns the kernel weights; this is the common
equal-weight, feature-layer form of Transfer-Learning-Library, with one difference: c is the
batch's *median* pairwise squared distance by default (the median heuristic), where that library
uses the *mean*. ``bandwidth: mean`` gives the library's choice, ``estimate: linear`` its
linear-time estimate (its DAN script's default).
"""
from typing import Literal

from pydantic import Field

from bench.strategies._alignment import mk_mmd
from bench.strategies._uda import UDAHparams, UDAStrategy
from bench.strategies.base import STRATEGIES


class DANHparams(UDAHparams):
    num_kernels: int = Field(5, ge=1)
    kernel_mul: float = Field(2.0, gt=1)
    #: centre of the bandwidth ladder: median (default) or mean pairwise squared distance
    bandwidth: Literal["median", "mean"] = "median"
    #: unbiased U-statistic (default) or TLL's linear-time estimate (bench.strategies._alignment.mk_mmd)
    estimate: Literal["unbiased", "linear"] = "unbiased"

    added_later = ("estimate",)


@STRATEGIES.register("dan")
class DAN(UDAStrategy):
    Hparams = DANHparams

    def transfer_loss(self, fs, ft, ls, lt):
        return mk_mmd(fs, ft, self.hp.num_kernels, self.hp.kernel_mul, centre=self.hp.bandwidth,
                      estimate=self.hp.estimate)
