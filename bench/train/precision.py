"""Numeric precision of a cell's training and evaluation, and the device's speed switches.

``precision`` (suite-wide, or per backbone) is one of

- ``fp32``: true fp32 everywhere (on CUDA, TF32 tensor-core maths is switched *off*, which PyTorch
  otherwise leaves on for convolutions), so results match the CPU's up to summation order;
- ``tf32``: fp32 tensors, matrix products and convolutions on TF32 tensor cores (Ampere and newer;
  10-bit mantissa inside the product, fp32 accumulation);
- ``bf16``: :func:`torch.autocast` to bfloat16 for the forward pass and the loss (weights,
  gradients and optimiser state stay fp32). Works on CPU as well;
- ``fp16``: autocast to float16 plus a :class:`torch.amp.GradScaler`: the loss is multiplied by a
  scale ``S`` before ``backward`` so that small gradients do not underflow in fp16, gradients are
  divided by ``S`` before the optimiser step, and the step is skipped (and ``S`` halved) when a
  gradient is inf/NaN (Micikevicius et al. 2018, "Mixed Precision Training", arXiv:1710.03740).

The harness wraps each strategy's ``update`` in :meth:`Amp.autocast` and the strategies' one
backward helper (``Strategy.step_loss``) calls :meth:`Amp.backward_step`, so a strategy needs no
precision code of its own.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Literal

import torch

Precision = Literal["fp32", "tf32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16")
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def device_type(device: str) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


class Amp:
    """One cell's precision: autocast for forwards, the backward/step (with a scaler for fp16)."""

    def __init__(self, precision: str = "fp32", device: str = "cpu"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        self.precision, self.device_type = precision, device_type(device)
        self.dtype = _AUTOCAST.get(precision)
        self.scaler = torch.amp.GradScaler(self.device_type) if precision == "fp16" else None

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype matrix products run in (QLoRA's 4-bit layers de-quantise to it)."""
        return self.dtype or torch.float32

    def autocast(self) -> Any:
        """Context for forward passes and losses (a no-op at fp32 / tf32)."""
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32,
                              enabled=self.dtype is not None)

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` run under :meth:`autocast` (the harness wraps ``Strategy.update`` with it)."""
        if self.dtype is None:
            return fn

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.autocast():
                return fn(*args, **kwargs)
        return wrapped

    def backward_step(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """zero_grad, backward, step. Outside autocast (PyTorch's advice for backward); with the
        GradScaler at fp16."""
        with torch.autocast(self.device_type, enabled=False):
            opt.zero_grad(set_to_none=True)
            if self.scaler is None:
                loss.backward()
                opt.step()
                return
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)  # unscales first; skips the step if a gradient is inf/NaN
            self.scaler.update()

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        """Evaluation: no autograd at all (``inference_mode``), forward in this precision."""
        with torch.inference_mode(), self.autocast():
            yield


FP32 = Amp("fp32", "cpu")


def configure_backends(precision: str, device: str) -> None:
    """Process-wide switches for a CUDA device: TF32 only when asked, cuDNN autotuning on.

    ``cudnn.benchmark`` times the convolution algorithms on the first batch of each shape and keeps
    the fastest; batch shapes are fixed within a stage, so it pays off after the warm-up steps.
    """
    if device_type(device) != "cuda":
        return
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True


def has_conv(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def use_channels_last(setting: bool | None, model: torch.nn.Module, device: str) -> bool:
    """channels_last (NHWC) memory: the layout cuDNN's tensor-core convolutions want. ``None``
    means on for convolutional models on CUDA, off elsewhere."""
    if setting is None:
        return device_type(device) == "cuda" and has_conv(model)
    return bool(setting) and has_conv(model)
