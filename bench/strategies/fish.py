"""``fish``: Fish, gradient matching for domain generalization (Shi et al., ICLR 2022), as
DomainBed's ``Fish`` computes it.

Each step a copy of the model takes one inner optimiser step per source domain, in domain order
(theta~ <- step(theta~, grad L_e(theta~)) for e = 1 .. D, the copy starting from theta); the inner
optimiser's state carries over from step to step (DomainBed keeps it), and the model moves towards
the copy: theta <- theta + meta_lr (theta~ - theta), on every floating-point entry of the state
(parameters and batch-norm statistics, as DomainBed's ``state_dict`` update). The model's own
optimiser is never stepped (as DomainBed's). To first order the step follows the sum of the domain
gradients plus a term that rewards their inner products (the paper's gradient-matching objective)."""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.search import choice
from bench.strategies._dg import DGStrategy, Minibatches
from bench.strategies.base import STRATEGIES, Hparams


def inner_steps(inner: nn.Module, opt: torch.optim.Optimizer, batches: Minibatches) -> torch.Tensor:
    """One optimiser step of ``inner`` on each domain's cross-entropy in turn; the last loss."""
    loss = torch.zeros(())
    for x, y in batches:
        loss = F.cross_entropy(inner(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return loss.detach()


@torch.no_grad()
def fish_update(model: nn.Module, inner: nn.Module, meta_lr: float) -> None:
    """theta <- theta + meta_lr (theta~ - theta) for every floating-point state entry, in place."""
    moved = inner.state_dict()
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            value.add_(meta_lr * (moved[name] - value))


class FishHparams(Hparams):
    meta_lr: float = Field(0.5, gt=0, le=1)


@STRATEGIES.register("fish")
class Fish(DGStrategy):
    Hparams = FishHparams
    search_space = {**DGStrategy.search_space, "meta_lr": choice([0.05, 0.1, 0.5])}

    def setup(self) -> None:
        super().setup()
        self.inner_state: dict[str, Any] | None = None

    def update(self, step: int):
        inner = copy.deepcopy(self.model)
        opt = self.optimizer_for(inner)
        if self.inner_state is not None:
            opt.load_state_dict(self.inner_state)
        loss = inner_steps(inner, opt, self.minibatches())
        self.inner_state = opt.state_dict()
        fish_update(self.model, inner, self.hp.meta_lr)
        return {"loss": loss}
