"""``mldg``: Meta-Learning Domain Generalization (Li et al., AAAI 2018), first order, as DomainBed's
``MLDG`` computes it.

Each step the source domains are put in a random order; the last ``n_meta_test`` are meta-test
domains, the others meta-train, each meta-train domain i paired with a meta-test domain j (cycling).
Per pair: a copy of the model takes one inner optimiser step (a fresh optimiser of the model's kind,
Adam in DomainBed's recipe) on L_i, giving theta'_i; the model's gradient is

    g = sum_(i, j) [ grad L_i(theta) + beta grad L_j(theta'_i) ] / D

(D = number of source domains; no second derivatives), and the model's optimiser steps once on g.
Differences: ``n_meta_test`` is capped at D - 1 (DomainBed's default 2 leaves no meta-train domain
when there are only two sources, and its step then does nothing); a single source domain is paired
with itself. DomainBed's published tables (commit 7df6f06) paired every domain with its successor in
a random order instead (``pairing: successor``)."""
from __future__ import annotations

import copy
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.search import choice, loguniform
from bench.strategies._dg import DGStrategy, Minibatches
from bench.strategies.base import STRATEGIES, Hparams


def meta_pairs(n: int, n_meta_test: int, gen: torch.Generator, pairing: str = "meta_test") -> list[tuple[int, int]]:
    """(meta-train, meta-test) domain indices: DomainBed's ``split_meta_train_test`` (``meta_test``)
    or its older ``random_pairs_of_minibatches`` (``successor``), both over one random order."""
    perm = torch.randperm(n, generator=gen).tolist()
    if n == 1:
        return [(perm[0], perm[0])]
    if pairing == "successor":
        return [(perm[i], perm[(i + 1) % n]) for i in range(n)]
    k = min(n_meta_test, n - 1)
    test = perm[-k:]
    return [(i, test[t % k]) for t, i in enumerate(perm[: n - k])]


def mldg_gradients(model: nn.Module, batches: Minibatches, pairs: list[tuple[int, int]], beta: float,
                   make_optimizer: Callable[[nn.Module], torch.optim.Optimizer]) -> tuple[list[torch.Tensor], float]:
    """First-order MLDG: the gradient g (one tensor per parameter of ``model``) and the objective
    sum_(i, j) [L_i(theta) + beta L_j(theta'_i)] / D; ``model`` is left untouched."""
    params = list(model.parameters())
    total = [torch.zeros_like(p) for p in params]
    objective, n = 0.0, len(batches)
    for i, j in pairs:
        inner = copy.deepcopy(model)
        opt = make_optimizer(inner)
        (xi, yi), (xj, yj) = batches[i], batches[j]
        loss_i = F.cross_entropy(inner(xi), yi)
        opt.zero_grad(set_to_none=True)
        loss_i.backward()
        grad_i = [p.grad for p in inner.parameters()]  # at theta: the copy has not stepped yet
        grad_i = [None if g is None else g.clone() for g in grad_i]
        opt.step()  # theta'_i
        loss_j = F.cross_entropy(inner(xj), yj)
        grad_j = torch.autograd.grad(loss_j, list(inner.parameters()), allow_unused=True)
        for t, gi, gj in zip(total, grad_i, grad_j):
            if gi is not None:
                t.add_(gi / n)
            if gj is not None:
                t.add_(beta * gj / n)
        objective += loss_i.item() + beta * loss_j.item()
    return total, objective / n


class MLDGHparams(Hparams):
    mldg_beta: float = Field(1.0, ge=0)
    n_meta_test: int = Field(2, ge=1)
    pairing: Literal["meta_test", "successor"] = "meta_test"


@STRATEGIES.register("mldg")
class MLDG(DGStrategy):
    Hparams = MLDGHparams
    search_space = {**DGStrategy.search_space, "mldg_beta": loguniform(1e-1, 1e1), "n_meta_test": choice([1, 2])}

    def setup(self) -> None:
        super().setup()
        self.gen = torch.Generator().manual_seed(self.ctx.seed + 11)

    def update(self, step: int):
        batches = self.minibatches()
        pairs = meta_pairs(len(batches), self.hp.n_meta_test, self.gen, self.hp.pairing)
        grads, objective = mldg_gradients(self.model, batches, pairs, self.hp.mldg_beta, self.optimizer_for)
        self.opt.zero_grad(set_to_none=True)
        for p, g in zip(self.model.parameters(), grads):
            p.grad = g
        self.opt.step()
        return {"loss": torch.tensor(objective)}
