"""What a strategy is, and everything it may see (:class:`AdaptContext`).

A strategy is a small class (DomainBed's shape): ``setup()`` once, ``update(step)`` per training
step (draw batches from the context, take one optimiser step, return the losses), ``predict(x)``.
The harness owns the loop, so every strategy is timed, checked for divergence and shown in the
progress bar the same way. Register one with ``@STRATEGIES.register("name")``; its
hyper-parameters are a pydantic model ``Hparams`` (unknown or ill-typed keys fail suite
validation with the field's name).

The context hands out target-train *inputs* for unlabelled use and target-train *labels only
within the label budget*: a strategy cannot reach a target label it was not given.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from bench.data.base import Split, take, to_device
from bench.errors import NotApplicable  # noqa: F401 - strategies raise it from here
# the registry, the hyper-parameters and the class flags, torch-free (a suite validates with them)
from bench.strategies.declared import STRATEGIES, Declaration, Hparams  # noqa: F401
from bench.data.sampler import Sampler
from bench.train.config import TrainConfig
from bench.train.loop import make_optimizer
from bench.train.precision import FP32, Amp


@dataclass
class AdaptContext:
    """All a strategy may use. Built by the cell recipe; nothing here holds target-test data."""

    source_train: Split
    source_val: Split
    target_labeled: Split          # target-train examples within the label budget
    target_labeled_idx: torch.Tensor  # their positions in target-train (for feature caches)
    target_unlabeled_x: Any        # all target-train inputs, no labels
    num_classes: int
    config: TrainConfig            # the suite's adapt config (lr/steps may be overridden)
    steps: int
    seed: int
    device: str
    initial_model: Callable[[], nn.Module]  # fresh weights as the source stage started from
    cache: dict[str, Any] = field(default_factory=dict)  # per-run memo (e.g. cached features)
    cache_key: str = ""            # identifies the source model, for keys into ``cache``
    target_domain: str = ""
    step: int = 0                  # set by the loop; ``progress`` is step / steps
    amp: Amp = FP32                # the cell's precision: autocast is on inside ``update``

    def __post_init__(self) -> None:
        bs, s, d = self.config.batch_size, self.seed, self.device
        src_aug, tgt_aug = self.source_train.augment, self.target_labeled.augment
        self.source = Sampler(self.source_train.x, self.source_train.y, bs, s + 1, d, src_aug,
                              domains=self.source_train.domain)  # balanced over several sources
        self.labeled = Sampler(self.target_labeled.x, self.target_labeled.y, bs, s + 2, d, tgt_aug)
        # target_labeled is target-train taken at the budget's indices: same augmentation
        self.unlabeled = Sampler(self.target_unlabeled_x, None, bs, s + 3, d, tgt_aug)

    @property
    def progress(self) -> float:
        return self.step / max(1, self.steps)

    @property
    def num_source_domains(self) -> int:
        """How many source domains ``source_train`` pools (1 for a single-source cell)."""
        dom = self.source_train.domain
        return 1 if dom is None or not len(dom) else int(dom.max()) + 1

    @property
    def samples_seen(self) -> int:
        return self.source.samples + self.labeled.samples + self.unlabeled.samples


class Strategy(Declaration):
    """Base class. Subclasses set the class flags and ``Hparams`` (:class:`Declaration`, read
    without torch when a suite validates) and implement ``update``."""

    def __init__(self, model: nn.Module, ctx: AdaptContext, hp: Hparams):
        self.model, self.ctx, self.hp = model, ctx, hp

    def setup(self) -> None:
        """Once, before the first step: freeze / unfreeze, build optimisers."""

    def update(self, step: int) -> dict[str, float]:
        raise NotImplementedError

    def finish(self) -> None:
        """Once, after the last step (e.g. re-estimate statistics)."""

    @torch.no_grad()
    def predict(self, x: Any) -> torch.Tensor:
        return self.model(x)

    # helpers shared by many strategies -------------------------------------------------
    @property
    def lr(self) -> float:
        return self.hp.lr or self.ctx.config.lr

    def optimizer(self, params_or_groups: Any) -> torch.optim.Optimizer:
        # the schedule follows the harness's step counter, shared by every optimiser a strategy builds
        return make_optimizer(params_or_groups, self.ctx.config, lr=self.lr, model=self.model,
                              total_steps=self.ctx.steps, clock=lambda: self.ctx.step)

    def supervised_step(self, opt: torch.optim.Optimizer) -> dict[str, float]:
        """One cross-entropy step on a batch of labelled target-train examples (within budget)."""
        x, y = self.ctx.labeled.next()
        return self.step_loss(opt, F.cross_entropy(self.model(x), y))

    def step_loss(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> dict[str, Any]:
        """zero_grad, backward, step (in the cell's precision; GradScaler at fp16). The loss is
        returned as a tensor: the loop reads it on the host only every few steps (no GPU sync)."""
        self.ctx.amp.backward_step(opt, loss)
        return {"loss": loss.detach()}

    def freeze_all_but_head(self) -> None:
        for p in self.model.parameters():
            p.requires_grad_(False)
        for p in self.model.head.parameters():
            p.requires_grad_(True)

    def frozen_copy(self) -> nn.Module:
        """A frozen copy of the model as it is now (the source model, for L2-SP, LwF, ...)."""
        twin = copy.deepcopy(self.model).eval()
        for p in twin.parameters():
            p.requires_grad_(False)
        return twin
