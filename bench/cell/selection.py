"""Model selection: which weights of an adaptation run count as its result.

Selection rules live apart from training (as DomainBed's ``model_selection.py``): a rule may use only
what the strategy may see (source-val labels, unlabelled target inputs), never target-test labels.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import torch

from bench.data.base import Split, batches
from bench.train.entropy import entropy
from bench.train.loop import evaluate


class Selector:
    """In-run selection: which weights of this run the row records (the suite's ``selection``).

    A protocol choice, stored in the row's ``selection_rule`` and part of its protocol hash, so a
    row always says which weights it holds. ``last`` keeps the final weights; ``source_val`` the
    highest source-val accuracy (the ``source_val`` validator's score); ``target_entropy`` the
    lowest mean prediction entropy on (up to 1000) unlabelled target-train inputs (the ``entropy``
    validator's score, with the losses' floor: ``bench.train.entropy``). Report-time selection
    (``bench report --select RULE``, every validator) picks among the stored checkpoints instead;
    its ``last`` takes each row as recorded, i.e. what this in-run rule kept. GPU suites use
    ``source_val`` here to save storing checkpoints; the CPU suites select at report time.
    """

    def __init__(self, rule: str, strategy: Any, source_val: Split, device: str, target_x: Any = None):
        self.rule, self.strategy, self.val, self.device = rule, strategy, source_val, device
        self.target_x = None if target_x is None else target_x[: min(1000, len(target_x))]
        self.best, self.best_state = -math.inf, None

    @property
    def active(self) -> bool:
        return self.rule != "last"

    def every(self, steps: int) -> int:
        return max(1, steps // 10)

    def check(self, step: int) -> None:
        model = self.strategy.model
        was_training = model.training
        model.eval()
        if self.rule == "target_entropy":
            acc = -_mean_entropy(self.strategy.predict, self.target_x, self.device)
        else:
            acc, _ = evaluate(self.strategy.predict, self.val, self.device)
        model.train(was_training)
        if acc > self.best:
            self.best, self.best_state = acc, copy.deepcopy(model.state_dict())

    def restore_best(self) -> None:
        if self.active and self.best_state is not None:
            self.check(-1)  # the final weights compete too
            self.strategy.model.load_state_dict(self.best_state)


@torch.no_grad()
def _mean_entropy(predict: Callable[[Any], torch.Tensor], x: Any, device: str, batch_size: int = 256) -> float:
    total = 0.0
    for _, xb in batches(x, device, batch_size):
        logits = predict(xb)
        total += entropy(torch.softmax(logits.float(), dim=-1)).sum().item()
    return total / max(1, len(x))
