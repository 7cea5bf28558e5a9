"""``dan``: multi-kernel Gaussian MMD (Long et al., 2015) on the backbone features.

``num_kernels`` Gaussian kernels with squared bandwidths median * ``kernel_mul`` ** k around the
median pairwise squared distance of the batch (k = -num_kernels//2 ... num_kernels//2), summed with
equal weights; the unbiased MMD^2 estimate. (The paper also adapts the logits layer and learns the
kernel weights; this is the common equal-weight, feature-layer form of Transfer-Learning-Library.)
"""
from pydantic import Field

from bench.alignment import mk_mmd
from bench.strategies._uda import UDAHparams, UDAStrategy
from bench.strategies.base import STRATEGIES


class DANHparams(UDAHparams):
    num_kernels: int = Field(5, ge=1)
    kernel_mul: float = Field(2.0, gt=1)


@STRATEGIES.register("dan")
class DAN(UDAStrategy):
    Hparams = DANHparams

    def transfer_loss(self, fs, ft, ls, lt):
        return mk_mmd(fs, ft, self.hp.num_kernels, self.hp.kernel_mul)
