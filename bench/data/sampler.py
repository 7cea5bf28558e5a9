"""Endless seeded mini-batches: the one place where training batches are drawn from a split."""
from __future__ import annotations

from typing import Any, Callable

import torch

from bench.data.base import take, to_device


class Sampler:
    """Endless seeded mini-batches from a split; counts the samples it hands out."""

    def __init__(self, x: Any, y: torch.Tensor | None, batch_size: int, seed: int, device: str,
                 augment: Callable[[Any, torch.Generator], Any] | None = None):
        self.x, self.y, self.device, self.augment = x, y, device, augment
        self.n = len(y) if y is not None else len(x)
        self.batch_size = min(batch_size, self.n) if self.n else 0
        self.gen = torch.Generator().manual_seed(seed)
        self.samples = 0
        self._perm, self._pos = torch.empty(0, dtype=torch.long), 0

    def next_indices(self) -> torch.Tensor:
        if self.n == 0:
            raise RuntimeError("this strategy asked for a batch from an empty split")
        if self._pos + self.batch_size > len(self._perm):
            self._perm, self._pos = torch.randperm(self.n, generator=self.gen), 0
        idx = self._perm[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        self.samples += len(idx)
        return idx

    def next(self) -> Any:
        """``x`` (unlabelled sampler) or ``(x, y)`` on the device."""
        idx = self.next_indices()
        x = to_device(take(self.x, idx), self.device)
        if self.augment is not None:  # training batches only; drawn from this sampler's generator
            x = self.augment(x, self.gen)
        return x if self.y is None else (x, self.y[idx].to(self.device))
