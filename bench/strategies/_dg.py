"""What DomainBed's domain-generalization algorithms share (not a strategy itself: the leading
underscore keeps the registry from importing it as one).

DomainBed's shape: each step draws one labelled mini-batch per *source* domain (the context's
source sampler balances a pooled multi-source split that way; ``AdaptContext.source.batch_domains``
says which positions came from which domain) and hands the list to the algorithm. The target
domain is held out: ``sees_target = False`` makes the harness give these strategies an empty
target pool, so no image of the held-out domain ever reaches their training.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from bench.search import loguniform
from bench.strategies.base import Hparams, Strategy
from bench.train.loop import make_optimizer

Minibatches = list[tuple[Any, torch.Tensor]]


class DGStrategy(Strategy):
    """Base class: the optimiser over the model, :meth:`minibatches`, and :meth:`dg_loss` to fill."""

    Hparams = Hparams
    adapts_jointly = True   # under ``protocol: joint`` trains from the initial weights, as DomainBed
    sees_target = False
    #: DomainBed's learning-rate distribution for its small images (10^U(-4.5, -2.5))
    search_space: dict[str, Any] = {"lr": loguniform(10 ** -4.5, 10 ** -2.5)}

    def setup(self) -> None:
        self.opt = self.optimizer(self.model.parameters())
        self.num_domains = self.ctx.num_source_domains

    def optimizer_for(self, module: torch.nn.Module) -> torch.optim.Optimizer:
        """The suite's optimiser (as :meth:`optimizer`) over a copy of the model (MLDG, Fish)."""
        return make_optimizer(module.parameters(), self.ctx.config, lr=self.lr, model=module,
                              total_steps=self.ctx.steps, clock=lambda: self.ctx.step)

    def minibatches(self) -> Minibatches:
        """One ``(x, y)`` per source domain, from one balanced draw (one pair for a single source)."""
        x, y = self.ctx.source.next()
        dom = self.ctx.source.batch_domains
        if dom is None:
            return [(x, y)]
        return split_by_domain(x, y, dom.to(y.device), self.num_domains)

    def dg_loss(self, batches: Minibatches, step: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """(the loss to minimise, facts to log) for one step's mini-batches."""
        raise NotImplementedError

    def update(self, step: int) -> dict[str, Any]:
        loss, facts = self.dg_loss(self.minibatches(), step)
        return {**self.step_loss(self.opt, loss), **{k: v.detach() for k, v in facts.items()}}

    def logits_per_domain(self, batches: Minibatches) -> list[torch.Tensor]:
        """The model on every mini-batch in one forward pass (batch-norm sees all domains, as in
        DomainBed), split back per domain."""
        logits = self.model(torch.cat([x for x, _ in batches]))
        return list(torch.split(logits, [len(y) for _, y in batches]))


def split_by_domain(x: torch.Tensor, y: torch.Tensor, dom: torch.Tensor, n: int) -> Minibatches:
    """``(x, y)`` cut into one part per domain index ``0..n-1`` (each part in batch order)."""
    return [(x[dom == d], y[dom == d]) for d in range(n)]


def domain_risks(logits: list[torch.Tensor], batches: Minibatches) -> torch.Tensor:
    """``[D]``: the mean cross-entropy on each domain's mini-batch."""
    return torch.stack([F.cross_entropy(lg, y) for lg, (_, y) in zip(logits, batches)])


def pairwise_mean(feats: list[torch.Tensor], distance) -> torch.Tensor:
    """DomainBed's multi-domain alignment penalty: ``distance(f_i, f_j)`` averaged over the
    D (D - 1) / 2 pairs i < j of source domains (0 for a single domain)."""
    pairs = [distance(feats[i], feats[j]) for i in range(len(feats)) for j in range(i + 1, len(feats))]
    return torch.stack(pairs).mean() if pairs else feats[0].new_zeros(())


class AlignmentStrategy(DGStrategy):
    """DomainBed's ``AbstractMMD``: per-domain features (each domain's mini-batch through the
    backbone on its own), mean cross-entropy over domains + ``mmd_gamma`` x the pairwise penalty."""

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def dg_loss(self, batches, step):
        feats = [self.model.features(x) for x, _ in batches]
        nll = torch.stack([F.cross_entropy(self.model.head(f), y) for f, (_, y) in zip(feats, batches)]).mean()
        penalty = pairwise_mean(feats, self.distance)
        return nll + self.hp.mmd_gamma * penalty, {"nll": nll, "penalty": penalty}
