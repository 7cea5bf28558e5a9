"""``adabn``: adaptive batch normalisation (Li et al., 2016). No gradient steps: every batch-norm
layer's running mean and variance are re-estimated on the target-train inputs (the average of the
batch statistics over one pass: exactly the target mean when the batch size divides the split),
everything else stays the source model's. Target labels are never used.
"""
import torch
from torch import nn

from bench.data.base import batches
from bench.strategies.base import STRATEGIES, NotApplicable, Strategy

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, BN_TYPES)]


@STRATEGIES.register("adabn")
class AdaBN(Strategy):
    trains = False
    search_space = {}  # nothing to tune: one trial

    @torch.no_grad()
    def finish(self) -> None:
        norms = batch_norms(self.model)
        if not norms:
            raise NotApplicable("adabn re-estimates batch-norm statistics, but this backbone has no "
                             "BatchNorm layer: use a backbone with batch norm (e.g. small_cnn)")
        self.model.eval()
        momenta = [bn.momentum for bn in norms]  # restored afterwards: the model keeps its settings
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average: the exact mean over all batches
            bn.train()
        for _, x in batches(self.ctx.target_unlabeled_x, self.ctx.device, self.ctx.config.batch_size):
            self.model(x)
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
        self.model.eval()
