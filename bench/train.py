"""Plain training and evaluation building blocks shared by the source stage and strategies."""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Collection, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from bench.data.base import Split, batches
from bench.config import TrainConfig
from bench.data.sampler import Sampler


class Diverged(RuntimeError):
    """A loss became NaN or infinite; ``step`` says when."""

    def __init__(self, step: int, loss: float):
        super().__init__(f"loss became {loss} at step {step}")
        self.step = step


def make_optimizer(params: Iterable[Any], cfg: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    """The suite's optimiser over ``params`` (tensors or param-group dicts, each may set its lr)."""
    params = [p for p in params if isinstance(p, dict) or p.requires_grad]
    lr = lr or cfg.lr
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)


def sync(device: str) -> None:
    """Wait for queued GPU work so that wall-clock timings are true."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


class StepLoop:
    """Runs ``update(step)`` ``steps`` times: divergence check, progress, throughput after warm-up.

    ``samples()`` returns how many samples have been consumed so far; throughput counts only the
    steps after the warm-up (the first steps pay for allocation and kernel selection).
    """

    def __init__(self, steps: int, device: str, warmup: int | None = None,
                 on_step: Callable[[int, int], None] | None = None):
        self.steps, self.device, self.on_step = steps, device, on_step
        self.warmup = min(5, steps // 5) if warmup is None else warmup
        self.samples_per_s = float("nan")

    def run(self, update: Callable[[int], dict[str, float]], samples: Callable[[], int],
            set_step: Callable[[int], None] = lambda s: None,
            checkpoint: Callable[[int], None] | None = None, every: int = 0,
            at: Collection[int] = ()) -> dict[str, float]:
        """``checkpoint(step)`` (model selection, validators) runs every ``every`` steps and after
        each step in ``at``, off the clock."""
        last: dict[str, float] = {}
        t0, n0, paused = time.perf_counter(), 0, 0.0
        for step in range(self.steps):
            if step == self.warmup:
                sync(self.device)
                t0, n0 = time.perf_counter(), samples()
            set_step(step)
            last = update(step)
            loss = last.get("loss", 0.0)
            if not math.isfinite(loss):
                raise Diverged(step, loss)
            if checkpoint is not None and ((every and (step + 1) % every == 0) or step + 1 in at):
                sync(self.device)
                c0 = time.perf_counter()
                checkpoint(step + 1)
                paused += time.perf_counter() - c0 if step >= self.warmup else 0.0
            if self.on_step:
                self.on_step(step + 1, self.steps)
        sync(self.device)
        timed = samples() - n0
        if self.steps > self.warmup and timed > 0:
            self.samples_per_s = timed / (time.perf_counter() - t0 - paused)
        return last


def fit_supervised(model: nn.Module, split: Split, cfg: TrainConfig, seed: int, device: str,
                   on_step: Callable[[int, int], None] | None = None, steps: int | None = None,
                   lr: float | None = None) -> StepLoop:
    """Cross-entropy training of every trainable parameter on a labelled split."""
    sampler = Sampler(split.x, split.y, cfg.batch_size, seed, device, augment=split.augment)
    opt = make_optimizer(model.parameters(), cfg, lr=lr)
    model.train()

    def update(_: int) -> dict[str, float]:
        x, y = sampler.next()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    loop = StepLoop(cfg.steps if steps is None else steps, device, on_step=on_step)
    loop.run(update, lambda: sampler.samples)
    return loop


@torch.no_grad()
def evaluate(predict: Callable[[Any], torch.Tensor], split: Split, device: str,
             batch_size: int = 256) -> tuple[float, float]:
    """(accuracy in percent, inference samples per second) of ``predict`` on a split."""
    correct, n = 0, len(split)
    if n == 0:
        return float("nan"), float("nan")
    sync(device)
    t0 = time.perf_counter()
    for idx, x in batches(split.x, device, batch_size):
        logits = predict(x)
        correct += (logits.argmax(-1).cpu() == split.y[idx]).sum().item()
    sync(device)
    return 100.0 * correct / n, n / (time.perf_counter() - t0)
