"""What the unsupervised domain adaptation strategies share (not a strategy itself: the leading
underscore keeps the registry from importing it as one).

Each training step (DomainBed / Transfer-Learning-Library shape): draw a labelled source batch,
an unlabelled target-train batch and, when the label budget is above 0, a labelled target batch;
run them through the backbone *together* (one batch, so batch-norm sees both domains, as the
reference implementations do); classification loss on every labelled example (source and
target within budget) plus ``trade_off`` x the strategy's ``transfer_loss`` on the features
and logits of the source and unlabelled target halves.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.search import loguniform
from bench.strategies.base import Hparams, Strategy


class UDAHparams(Hparams):
    #: weight of the transfer (alignment) loss against the classification loss
    trade_off: float = Field(1.0, ge=0)


def cat_inputs(parts: list[Any]) -> Any:
    """Concatenate batches: tensors along dim 0, text lists end to end, dicts key by key."""
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts)
    if isinstance(parts[0], dict):
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    return [item for p in parts for item in p]


class UDAStrategy(Strategy):
    Hparams = UDAHparams
    adapts_jointly = True
    search_space = {"lr": loguniform(3e-4, 3e-3), "trade_off": loguniform(0.1, 3.0)}

    def extra_modules(self) -> list[nn.Module]:
        """Modules trained alongside the model (e.g. a domain discriminator)."""
        return []

    def setup(self) -> None:
        params = list(self.model.parameters()) + [p for m in self.extra_modules() for p in m.parameters()]
        self.opt = self.optimizer(params)
        self.use_labels = len(self.ctx.target_labeled) > 0

    def transfer_loss(self, fs: torch.Tensor, ft: torch.Tensor, ls: torch.Tensor,
                      lt: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def before_step(self) -> None:
        """Hook before the optimiser step's forward pass (e.g. learning-rate schedules)."""

    def update(self, step: int) -> dict[str, float]:
        self.before_step()
        xs, ys = self.ctx.source.next()
        xt = self.ctx.unlabeled.next()
        batches, labels = [xs], [ys]
        if self.use_labels:
            xl, yl = self.ctx.labeled.next()
            batches.append(xl)
            labels.append(yl)
        y = torch.cat(labels)
        f = self.model.features(cat_inputs(batches + [xt]))
        logits = self.model.head(f)
        n_lab, n_s = len(y), len(ys)
        cls = F.cross_entropy(logits[:n_lab], y)
        transfer = self.transfer_loss(f[:n_s], f[n_lab:], logits[:n_s], logits[n_lab:])
        loss = cls + self.hp.trade_off * transfer
        return {**self.step_loss(self.opt, loss), "cls": cls.detach(), "transfer": transfer.detach()}
