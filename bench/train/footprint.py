"""Training-memory footprint counted from tensors, comparable across methods on a CPU.

On CUDA, ``torch.cuda.max_memory_allocated`` answers "how much memory did adaptation need". On a
CPU the only counter is the process's peak resident set, and it cannot tell methods apart inside
one long-running process: memory freed by an earlier cell stays resident (the allocator keeps
it), so a later cell's allocations often raise no peak at all. This module counts what the
training step keeps alive instead, the quantities that make LoRA and QLoRA cheaper than full
fine-tuning:

* ``param_bytes``: parameters and buffers (4-bit weights count at their packed size);
* ``grad_bytes``: the gradients the steps left (one per trained parameter);
* ``optimizer_bytes``: the optimiser's state tensors (Adam: two per trainable parameter);
* ``activation_bytes``: the largest, over the steps, total of distinct tensors autograd saved for
  the backward pass (found with ``torch.autograd.graph.saved_tensors_hooks``; parameters excluded).

``footprint_bytes`` is their sum: an estimate of peak tensor memory that leaves out short-lived
temporaries (so it sits below a CUDA peak), the same way for every method.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import nn


def _storage(t: torch.Tensor) -> tuple[int, int]:
    s = t.untyped_storage()
    return s.data_ptr(), s.nbytes()


class TensorFootprint:
    """Wrap each training step with :meth:`step`; read :meth:`summary` at the end."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.activation_bytes = 0

    def wrap(self, update: Callable[[int], Any], measured_steps: int = 2) -> Callable[[int], Any]:
        """``update`` with the saved-tensor hook on its first steps only: those fall in the
        loop's warm-up, so the hook never slows the steps that throughput is timed on (the
        activations of a step do not change between steps of the same batch size)."""
        def wrapped(step: int) -> Any:
            if step >= measured_steps:
                return update(step)
            with self.step():
                return update(step)
        return wrapped

    @contextmanager
    def step(self) -> Iterator[None]:
        params = {_storage(p)[0] for p in self.model.parameters()}
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            try:
                ptr, nbytes = _storage(t)
                if ptr not in params:
                    seen[ptr] = nbytes
            except (RuntimeError, NotImplementedError):  # e.g. tensor subclasses without storage
                pass
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield
        self.activation_bytes = max(self.activation_bytes, sum(seen.values()))

    def summary(self, optimizers: list[torch.optim.Optimizer]) -> dict[str, int]:
        tensors = list(self.model.parameters()) + list(self.model.buffers())
        param_bytes = sum(t.numel() * t.element_size() for t in tensors)
        grad_bytes = sum(p.numel() * p.element_size() for p in self.model.parameters()
                         if p.requires_grad and p.grad is not None)  # gradients that existed
        opt_bytes = sum(v.numel() * v.element_size() for opt in optimizers for state in opt.state.values()
                        for v in state.values() if isinstance(v, torch.Tensor) and v.dim() > 0)
        out = {"param_bytes": param_bytes, "grad_bytes": grad_bytes, "optimizer_bytes": opt_bytes,
               "activation_bytes": self.activation_bytes}
        out["footprint_bytes"] = sum(out.values())
        return out


def optimizers_of(strategy: Any) -> list[torch.optim.Optimizer]:
    """The optimisers a strategy holds as attributes (``self.opt`` by convention)."""
    return [v for v in vars(strategy).values() if isinstance(v, torch.optim.Optimizer)]
