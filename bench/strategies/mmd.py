"""``mmd``: moment matching, ||mu_S - mu_T||^2 + ||Sigma_S - Sigma_T||_F^2 on the backbone features
(a linear-kernel MMD plus covariance), added to the classification loss."""
from bench.alignment import mmd_linear
from bench.strategies._uda import UDAStrategy
from bench.strategies.base import STRATEGIES


@STRATEGIES.register("mmd")
class MMD(UDAStrategy):
    def transfer_loss(self, fs, ft, ls, lt):
        return mmd_linear(fs, ft)
