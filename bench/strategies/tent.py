"""``tent``: test-time entropy minimisation (Wang et al., 2021).

Only the affine parameters (weight, bias) of the normalisation layers train, to minimise the mean
prediction entropy on unlabelled target-train batches; batch-norm layers normalise with the
statistics of the current batch (running statistics are dropped, as in the paper), also at
evaluation time. No source data is used. With a label budget above 0 the labelled target batch's
cross-entropy is added.
"""
import torch.nn.functional as F
from torch import nn

from bench.train.entropy import entropy
from bench.strategies.base import STRATEGIES, NotApplicable, Strategy

NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


@STRATEGIES.register("tent")
class Tent(Strategy):
    def setup(self) -> None:
        for p in self.model.parameters():
            p.requires_grad_(False)
        params = []
        for m in self.model.modules():
            if isinstance(m, NORM_TYPES) and getattr(m, "weight", None) is not None:
                params += [p for p in (m.weight, m.bias) if p is not None]
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.track_running_stats, m.running_mean, m.running_var = False, None, None
        if not params:
            raise NotApplicable("tent trains the affine parameters of normalisation layers, and this "
                             "backbone has none: use one with BatchNorm / LayerNorm / GroupNorm")
        for p in params:
            p.requires_grad_(True)
        self.opt = self.optimizer(params)
        self.use_labels = len(self.ctx.target_labeled) > 0

    def update(self, step: int) -> dict[str, float]:
        loss = entropy(F.softmax(self.model(self.ctx.unlabeled.next()), dim=1)).mean()
        if self.use_labels:
            x, y = self.ctx.labeled.next()
            loss = loss + F.cross_entropy(self.model(x), y)
        return self.step_loss(self.opt, loss)
