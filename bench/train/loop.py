"""Plain training and evaluation building blocks shared by the source stage and strategies."""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Collection, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from bench.data.base import Split, batches
from bench.train.config import TrainConfig
from bench.data.sampler import Sampler
from bench.train.precision import FP32, Amp
from bench.train.schedules import attach_schedule, param_groups


class Diverged(RuntimeError):
    """A loss became NaN or infinite; ``step`` says when."""

    def __init__(self, step: int, loss: float):
        super().__init__(f"loss became {loss} at step {step}")
        self.step = step


#: losses returned as device tensors are read on the host once every this many steps (reading a
#: CUDA tensor waits for the GPU; doing it every step would stall the queue of kernels)
CHECK_EVERY = 32


class LossCheck:
    """Divergence check without a per-step host sync: keeps each step's loss (tensor or float)
    and reads them all at once every ``every`` steps, so a NaN still names its exact step."""

    def __init__(self, every: int = CHECK_EVERY):
        self.every, self.pending = every, []  # type: list[tuple[int, torch.Tensor]]

    def add(self, step: int, loss: Any) -> None:
        if isinstance(loss, torch.Tensor):
            self.pending.append((step, loss.detach()))
            if len(self.pending) >= self.every:
                self.flush()
        elif not math.isfinite(loss):  # a host float costs nothing to check
            self.flush()  # an earlier tensor may have gone bad first
            raise Diverged(step, loss)

    def flush(self) -> None:
        """Read the pending losses (one host sync); raise :class:`Diverged` at the first bad one."""
        if not self.pending:
            return
        steps, losses = zip(*self.pending)
        self.pending = []
        values = torch.stack([v.float().reshape(()) for v in losses]).cpu()
        bad = (~torch.isfinite(values)).nonzero()
        if len(bad):
            i = int(bad[0])
            raise Diverged(steps[i], values[i].item())


def make_optimizer(params: Iterable[Any], cfg: TrainConfig, lr: float | None = None,
                   model: nn.Module | None = None, total_steps: int | None = None,
                   clock: Callable[[], int] | None = None) -> torch.optim.Optimizer:
    """The suite's optimiser over ``params`` (tensors or param-group dicts, each may set its lr),
    with the config's backbone multiplier (needs ``model``) and schedule (``bench.train.schedules``)."""
    params = [p for p in params if isinstance(p, dict) or p.requires_grad]
    lr = lr or cfg.lr
    params = param_groups(params, cfg, lr, model)
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                              nesterov=cfg.nesterov)
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    attach_schedule(opt, cfg, cfg.steps if total_steps is None else total_steps, clock)
    return opt


def sync(device: str) -> None:
    """Wait for queued GPU work so that wall-clock timings are true."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timing_warmup(steps: int) -> int:
    """Steps kept out of a stage's timed window. A long stage (500 steps and more: GPU runs) keeps
    50 out, as timm's and the field's anchors do: cuDNN autotuning, the caching allocator's growth,
    torch.compile's recompiles and the clock's ramp-up all land there. A short stage (the CPU
    suites' 100-300 steps) keeps 5 out, so that its timed window stays most of the stage."""
    return min(50, steps // 10) if steps >= 500 else min(5, steps // 5)


class StepLoop:
    """Runs ``update(step)`` ``steps`` times: divergence check, progress, throughput after warm-up.

    ``samples()`` returns how many samples have been consumed so far; throughput counts only the
    steps after the warm-up (the first steps pay for allocation and kernel selection).
    """

    def __init__(self, steps: int, device: str, warmup: int | None = None,
                 on_step: Callable[[int, int], None] | None = None, check_every: int = CHECK_EVERY):
        self.steps, self.device, self.on_step = steps, device, on_step
        self.warmup = timing_warmup(steps) if warmup is None else warmup
        self.samples_per_s = float("nan")
        self.first_step_s = float("nan")  # includes torch.compile's compilation when it is on
        self.step_s = float("nan")  # seconds per timed step (after the warm-up, checkpoints excluded)
        self.check_every = check_every

    def run(self, update: Callable[[int], dict[str, float]], samples: Callable[[], int],
            set_step: Callable[[int], None] = lambda s: None,
            checkpoint: Callable[[int], None] | None = None, every: int = 0,
            at: Collection[int] = ()) -> dict[str, float]:
        """``checkpoint(step)`` (model selection, validators) runs every ``every`` steps and after
        each step in ``at``, off the clock."""
        last: dict[str, float] = {}
        losses = LossCheck(self.check_every)
        t0, n0, paused = time.perf_counter(), 0, 0.0
        for step in range(self.steps):
            if step == self.warmup:
                sync(self.device)
                t0, n0 = time.perf_counter(), samples()
            set_step(step)
            s0 = time.perf_counter() if step == 0 else 0.0
            try:
                last = update(step)
            except Exception:
                losses.flush()  # a NaN a few steps back (e.g. NaN logits into sampling) is the cause
                raise
            if step == 0:
                sync(self.device)
                self.first_step_s = time.perf_counter() - s0
            losses.add(step, last.get("loss", 0.0))
            if checkpoint is not None and ((every and (step + 1) % every == 0) or step + 1 in at):
                losses.flush()  # never select a checkpoint from a run that already diverged
                sync(self.device)
                c0 = time.perf_counter()
                checkpoint(step + 1)
                paused += time.perf_counter() - c0 if step >= self.warmup else 0.0
            if self.on_step:
                self.on_step(step + 1, self.steps)
        losses.flush()
        sync(self.device)
        timed = samples() - n0
        elapsed = time.perf_counter() - t0 - paused
        if self.steps > self.warmup:
            self.step_s = elapsed / (self.steps - self.warmup)
        if self.steps > self.warmup and timed > 0:
            self.samples_per_s = timed / elapsed
        return last


def fit_supervised(model: nn.Module, split: Split, cfg: TrainConfig, seed: int, device: str,
                   on_step: Callable[[int, int], None] | None = None, steps: int | None = None,
                   lr: float | None = None, amp: Amp = FP32) -> StepLoop:
    """Cross-entropy training of every trainable parameter on a labelled split."""
    sampler = Sampler(split.x, split.y, cfg.batch_size, seed, device, augment=split.augment,
                      domains=split.domain)  # several source domains: balanced batches
    total = cfg.steps if steps is None else steps
    opt = make_optimizer(model.parameters(), cfg, lr=lr, model=model, total_steps=total)
    model.train()

    def update(_: int) -> dict[str, Any]:
        x, y = sampler.next()
        with amp.autocast():
            loss = F.cross_entropy(model(x), y)
        amp.backward_step(opt, loss)
        return {"loss": loss.detach()}

    loop = StepLoop(total, device, on_step=on_step)
    loop.run(update, lambda: sampler.samples)
    return loop


def evaluate(predict: Callable[[Any], torch.Tensor], split: Split, device: str,
             batch_size: int = 256, amp: Amp = FP32) -> tuple[float, float]:
    """(accuracy in percent, inference samples per second) of ``predict`` on a split, under
    ``inference_mode`` and the cell's precision."""
    correct, n = 0, len(split)
    if n == 0:
        return float("nan"), float("nan")
    sync(device)
    t0 = time.perf_counter()
    with amp.evaluating():
        for idx, x in batches(split.x, device, batch_size):
            logits = predict(x)
            correct += (logits.argmax(-1).cpu() == split.y[idx]).sum().item()
    sync(device)
    return 100.0 * correct / n, n / (time.perf_counter() - t0)
