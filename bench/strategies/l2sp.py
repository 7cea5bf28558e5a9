"""``l2sp``: fine-tune everything, penalising the distance to the source weights.

Li et al. 2018: alpha/2 ||w - w_source||^2 over the backbone plus beta/2 ||w_head - w_source_head||^2.

The paper decays a *new* head towards zero; here source and target share the label set, so the
head is the source model's and is held near it like the rest (beta separately tunable)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from bench.strategies.base import STRATEGIES, Hparams, Strategy


def l2sp_penalty(model, reference: dict[str, torch.Tensor], alpha: float, beta: float) -> torch.Tensor:
    """Zero at the reference (source) weights, positive away from them."""
    total = torch.zeros((), device=next(model.parameters()).device)
    for name, p in model.named_parameters():
        if p.requires_grad and name in reference:
            weight = beta if name.startswith("head.") else alpha
            total = total + weight / 2 * (p - reference[name]).pow(2).sum()
    return total


class L2SPHparams(Hparams):
    alpha: float = Field(0.01, ge=0)
    beta: float = Field(0.01, ge=0)


@STRATEGIES.register("l2sp")
class L2SP(Strategy):
    Hparams = L2SPHparams
    needs_target_labels = True

    def setup(self) -> None:
        self.reference = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        self.opt = self.optimizer(self.model.parameters())

    def update(self, step: int) -> dict[str, float]:
        x, y = self.ctx.labeled.next()
        ce = F.cross_entropy(self.model(x), y)
        penalty = l2sp_penalty(self.model, self.reference, self.hp.alpha, self.hp.beta)
        return {**self.step_loss(self.opt, ce + penalty), "penalty": penalty.detach()}
