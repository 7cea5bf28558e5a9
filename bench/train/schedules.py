"""Learning-rate schedules and the backbone learning-rate multiplier of a training stage.

Every optimiser the harness builds (``bench.train.loop.make_optimizer``) goes through here, so a
schedule stated once in the suite's ``source`` / ``adapt`` config reaches every strategy without
the strategy knowing about it. The learning rate at step ``i`` of ``T`` is ``base_lr * factor(i)``:

- ``constant``: ``factor = 1``.
- ``anneal`` (DANN, Ganin et al. 2016; the Transfer-Learning-Library's default for Office-31):
  ``factor = (1 + gamma * i) ** (-power)`` with ``gamma = 0.001``, ``power = 0.75`` by default.
  TLL counts ``i`` in iterations (not training progress), so the decay does not depend on ``T``.
- ``cosine`` with linear warm-up (Loshchilov & Hutter, 2017): ``factor = (i + 1) / w`` for
  ``i < w`` warm-up steps, then ``0.5 * (1 + cos(pi * (i - w) / (T - w)))``.

``backbone_lr_mult`` scales the learning rate of the backbone's parameters against the new layers
(head, bottleneck, discriminators): the usual 0.1x for a pretrained backbone (TLL, Long et al.).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch
from torch import nn

from bench.train.config import TrainConfig


def lr_factor(cfg: TrainConfig, step: int, total: int) -> float:
    """The multiplier of the base learning rate at ``step`` (0-based) of ``total`` steps."""
    if cfg.schedule == "anneal":
        return (1.0 + cfg.anneal_gamma * step) ** (-cfg.anneal_power)
    if cfg.schedule == "cosine":
        warm = min(cfg.warmup_steps, total)
        if step < warm:
            return (step + 1) / warm
        span = max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(step - warm, span) / span))
    return 1.0


def param_groups(params: Iterable[Any], cfg: TrainConfig, lr: float,
                 model: nn.Module | None = None) -> list[Any]:
    """``params`` as optimiser groups: with a ``backbone_lr_mult`` other than 1 and a model that has
    a ``backbone``, its parameters form a group at ``lr * mult`` and all others one at ``lr``.
    Groups a strategy already built (dicts, e.g. discriminative learning rates) are kept."""
    params = list(params)
    backbone = getattr(model, "backbone", None)
    if cfg.backbone_lr_mult == 1.0 or backbone is None or any(isinstance(p, dict) for p in params):
        return params
    in_backbone = {id(p) for p in backbone.parameters()}
    slow = [p for p in params if id(p) in in_backbone]
    fast = [p for p in params if id(p) not in in_backbone]
    groups = [{"params": slow, "lr": lr * cfg.backbone_lr_mult, "name": "backbone"},
              {"params": fast, "lr": lr, "name": "new_layers"}]
    return [g for g in groups if g["params"]]


def attach_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, total: int,
                    clock: Callable[[], int] | None = None) -> None:
    """Make ``opt`` follow ``cfg.schedule``: before every ``opt.step()`` each group's lr becomes its
    ``base_lr`` times :func:`lr_factor`. ``clock()`` gives the stage's step (e.g. the harness's step
    counter, shared by all optimisers of a strategy that rebuilds them); by default the optimiser
    counts its own steps. A constant schedule attaches nothing, so strategies that set their own
    learning rates (``dann``'s ``anneal_lr``) keep them."""
    if cfg.schedule == "constant":
        return
    counted = [0]
    now = clock or (lambda: counted[0])
    for g in opt.param_groups:
        g.setdefault("base_lr", g["lr"])

    def apply(*_: Any) -> None:
        factor = lr_factor(cfg, now(), total)
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * factor

    def count(*_: Any) -> None:
        counted[0] += 1

    apply()  # step 0's rate is visible before the first step
    opt.register_step_pre_hook(apply)
    opt.register_step_post_hook(count)
