"""``maml``: first-order MAML (Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast
Adaptation of Deep Networks", ICML 2017), or ANIL when only the head adapts (Raghu et al., "Rapid
Learning or Feature Reuse? Towards Understanding the Effectiveness of MAML", ICLR 2020).

Meta-training (the adaptation stage's steps, on *source* N-way k-shot episodes): the inner loop
adapts the fast weights ``theta'`` (the head for ANIL, every parameter otherwise) on the support set
with ``inner_steps`` SGD steps ``theta' <- theta' - inner_lr * grad L_support(theta')``; the outer
step then moves the initialisation ``theta`` along ``grad L_query(theta')``. First order: the inner
gradients are treated as constants, so ``d theta' / d theta = I`` (Finn et al., section 5.2);
``first_order: false`` backpropagates through them. Then the model adapts to the k labelled target
examples per class with the same inner loop, and that is the adapted model.

The fast weights are a dict passed to ``torch.func.functional_call``: the module is never copied.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.func import functional_call

from bench.strategies._episodes import EpisodeSampler
from bench.strategies.base import STRATEGIES, Hparams, Strategy


class MamlHparams(Hparams):
    #: ANIL (head only in the inner loop) or MAML (every parameter)
    head_only: bool = True
    first_order: bool = True
    inner_steps: int = Field(5, ge=1)
    inner_lr: float = Field(0.1, gt=0)
    n_way: int = Field(10, ge=2)
    k_shot: int = Field(5, ge=1)
    n_query: int = Field(5, ge=1)
    #: episodes averaged per outer step
    meta_batch: int = Field(2, ge=1)


def inner_loop(module: nn.Module, params: dict[str, torch.Tensor], inputs: Any, y: torch.Tensor,
               steps: int, lr: float, first_order: bool) -> dict[str, torch.Tensor]:
    """``steps`` SGD steps of ``params`` (names in ``module``) on cross-entropy over ``(inputs, y)``,
    returned as new tensors; the module's own parameters are untouched."""
    for _ in range(steps):
        loss = F.cross_entropy(functional_call(module, params, (inputs,)), y)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
        params = {n: p - lr * (g.detach() if first_order else g) for (n, p), g in zip(params.items(), grads)}
    return params


@STRATEGIES.register("maml")
class Maml(Strategy):
    Hparams = MamlHparams
    needs_target_labels = True

    def setup(self) -> None:
        hp = self.hp
        self.episodes = EpisodeSampler(self.ctx.source_train, hp.n_way, hp.k_shot, hp.n_query,
                                       self.ctx.seed + 5, self.ctx.device)
        self.opt = self.optimizer(self.model.parameters())

    @property
    def fast_module(self) -> nn.Module:
        return self.model.head if self.hp.head_only else self.model

    def _fast_inputs(self, x: Any, support: bool) -> Any:
        if not self.hp.head_only:
            return x
        feats = self.model.features(x)
        # first order: the support loss's gradient reaches no backbone weight, so skip its graph
        return feats.detach() if support and self.hp.first_order else feats

    def update(self, step: int) -> dict[str, float]:
        hp, total = self.hp, 0.0
        self.opt.zero_grad(set_to_none=True)
        for _ in range(hp.meta_batch):
            ep = self.episodes.next()
            self.ctx.source.samples += len(ep.indices)  # so throughput counts episode examples
            start = dict(self.fast_module.named_parameters())
            fast = inner_loop(self.fast_module, start, self._fast_inputs(ep.support_x, True), ep.support_y,
                              hp.inner_steps, hp.inner_lr, hp.first_order)
            query = self._fast_inputs(ep.query_x, False)
            loss = F.cross_entropy(functional_call(self.fast_module, fast, (query,)), ep.query_y) / hp.meta_batch
            loss.backward()
            total += loss.item()
        self.opt.step()
        return {"loss": total}

    def finish(self) -> None:
        """Adapt to the labelled target examples within the budget with the inner loop, in place."""
        hp = self.hp
        self.model.train(not hp.head_only)  # ANIL: features as evaluated; MAML: as meta-trained
        start = {n: p.detach().requires_grad_(True) for n, p in self.fast_module.named_parameters()}
        with torch.enable_grad():
            for _ in range(hp.inner_steps):  # one step per batch of the (usually whole) support set
                x, y = self.ctx.labeled.next()
                if hp.head_only:
                    with torch.no_grad():
                        x = self.model.features(x)
                start = {n: p.detach().requires_grad_(True) for n, p in
                         inner_loop(self.fast_module, start, x, y, 1, hp.inner_lr, True).items()}
        with torch.no_grad():
            for name, value in start.items():
                self.fast_module.get_parameter(name).copy_(value)
