"""``lwf``: fine-tune everything while distilling the source model's target predictions.

Learning without forgetting (Li & Hoiem 2016). Cross-entropy on the budget's target
labels plus distillation of the frozen source model's predictions on target-train inputs:
lambda T^2 KL(softmax(source / T) || softmax(model / T))."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from bench.strategies.base import STRATEGIES, Hparams, Strategy


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    t = temperature
    return F.kl_div(F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1),
                    log_target=True, reduction="batchmean") * t * t


class LwFHparams(Hparams):
    lam: float = Field(1.0, ge=0)
    temperature: float = Field(2.0, gt=0)


@STRATEGIES.register("lwf")
class LwF(Strategy):
    Hparams = LwFHparams
    needs_target_labels = True

    def setup(self) -> None:
        self.source_model = self.frozen_copy()
        self.opt = self.optimizer(self.model.parameters())

    def update(self, step: int) -> dict[str, float]:
        x, y = self.ctx.labeled.next()
        ce = F.cross_entropy(self.model(x), y)
        xu = self.ctx.unlabeled.next()
        with torch.no_grad():
            teacher = self.source_model(xu)
        kd = distillation_loss(self.model(xu), teacher, self.hp.temperature)
        return {**self.step_loss(self.opt, ce + self.hp.lam * kd), "distill": kd.detach()}
