"""``pseudo_label``: self-training on confident target predictions (Lee, 2013; FixMatch's mask).

Each step, target-train inputs whose predicted class probability is at least ``threshold`` get
that class as a (detached) label; the cross-entropy on them, averaged over the whole target batch,
is added with a weight that ramps linearly from 0 to ``trade_off`` over the first ``rampup``
fraction of training (the schedule: early predictions are the source model's, least trustworthy).
"""
import torch
import torch.nn.functional as F
from pydantic import Field

from bench.strategies._uda import UDAHparams, UDAStrategy
from bench.strategies.base import STRATEGIES


class PseudoLabelHparams(UDAHparams):
    threshold: float = Field(0.9, ge=0, le=1)
    rampup: float = Field(0.3, ge=0, le=1)


@STRATEGIES.register("pseudo_label")
class PseudoLabel(UDAStrategy):
    Hparams = PseudoLabelHparams

    def transfer_loss(self, fs, ft, ls, lt):
        conf, pseudo = F.softmax(lt.detach(), dim=1).max(dim=1)
        mask = (conf >= self.hp.threshold).float()
        ramp = min(1.0, self.ctx.progress / self.hp.rampup) if self.hp.rampup > 0 else 1.0
        self.mask_rate = mask.mean().detach()  # read with the loss, no per-step sync
        return ramp * (F.cross_entropy(lt, pseudo, reduction="none") * mask).mean()

    def update(self, step: int) -> dict[str, float]:
        out = super().update(step)
        return {**out, "mask_rate": self.mask_rate}
