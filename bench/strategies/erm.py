"""``erm``: empirical risk minimisation on labelled data alone, as a method that trains jointly.

The Transfer-Learning-Library's ``erm.py`` (its "source only" row): cross-entropy on labelled source
batches (plus labelled target-train batches when the label budget is above 0), never looking at
unlabelled target data. Unlike ``source_only`` (the cached source stage, evaluated as it is), it
runs in the adaptation loop, so under ``protocol: joint`` it trains from the initial weights with
the ``adapt`` recipe and its checkpoints (and so report-time selection rules, the oracle included)
see every epoch, as TLL's epoch pick does. Under ``two_stage`` it continues training the source
model the same way.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.search import loguniform
from bench.strategies.base import STRATEGIES, Strategy


@STRATEGIES.register("erm")
class ERM(Strategy):
    adapts_jointly = True
    search_space = {"lr": loguniform(1e-4, 1e-1)}

    def setup(self) -> None:
        self.opt = self.optimizer(self.model.parameters())
        self.use_labels = len(self.ctx.target_labeled) > 0

    def update(self, step: int) -> dict[str, torch.Tensor]:
        xs, ys = self.ctx.source.next()
        if self.use_labels:
            xl, yl = self.ctx.labeled.next()
            xs, ys = torch.cat([xs, xl]), torch.cat([ys, yl])
        return self.step_loss(self.opt, F.cross_entropy(self.model(xs), ys))
