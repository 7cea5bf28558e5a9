"""``ewc``: fine-tune everything with a Fisher-weighted pull towards the source weights.

Elastic weight consolidation (Kirkpatrick et al. 2017). A diagonal Fisher information
estimated on *source*-train batches (before adaptation) weighs the penalty lambda/2 sum F (w - w_source)^2,
so the weights the source task relies on move least."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from bench.strategies.base import STRATEGIES, Hparams, Strategy


def diagonal_fisher(model, batches) -> dict[str, torch.Tensor]:
    """Mean squared gradient of the log-likelihood of the model's own predictions (true Fisher,
    labels sampled from the model), per parameter, over ``batches`` of source inputs."""
    fisher = {n: torch.zeros_like(p) for n, p in model.named_parameters() if p.requires_grad}
    was_training = model.training
    model.eval()
    n = 0
    for x in batches:
        logits = model(x)
        sampled = torch.distributions.Categorical(logits=logits).sample()
        model.zero_grad(set_to_none=True)
        F.cross_entropy(logits, sampled, reduction="sum").backward()
        for name, p in model.named_parameters():
            if name in fisher and p.grad is not None:
                fisher[name] += p.grad.detach().pow(2)
        n += len(logits)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {k: v / max(1, n) for k, v in fisher.items()}


def ewc_penalty(model, reference: dict[str, torch.Tensor], fisher: dict[str, torch.Tensor],
                lam: float) -> torch.Tensor:
    """Zero at the reference weights; positive away from them wherever the Fisher is positive."""
    total = torch.zeros((), device=next(model.parameters()).device)
    for name, p in model.named_parameters():
        if name in fisher:
            total = total + (fisher[name] * (p - reference[name]).pow(2)).sum()
    return lam / 2 * total


class EWCHparams(Hparams):
    lam: float = Field(100.0, ge=0)
    fisher_batches: int = Field(8, ge=1)


@STRATEGIES.register("ewc")
class EWC(Strategy):
    Hparams = EWCHparams
    needs_target_labels = True

    def setup(self) -> None:
        self.reference = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        batches = (self.ctx.source.next()[0] for _ in range(self.hp.fisher_batches))
        self.fisher = diagonal_fisher(self.model, batches)
        self.opt = self.optimizer(self.model.parameters())

    def update(self, step: int) -> dict[str, float]:
        x, y = self.ctx.labeled.next()
        ce = F.cross_entropy(self.model(x), y)
        penalty = ewc_penalty(self.model, self.reference, self.fisher, self.hp.lam)
        return {**self.step_loss(self.opt, ce + penalty), "penalty": penalty.detach()}
