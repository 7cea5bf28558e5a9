"""Endless seeded mini-batches: the one place where training batches are drawn from a split.

On CUDA the sampler *prefetches*: a background thread prepares batch k+1 (gather into pinned host
memory, ``non_blocking`` copy on a side stream, augmentation on the device) while step k runs. The
thread makes exactly the calls the sampler would make itself, in the same order, on the same
generator, so the batches are the same as without prefetching.
"""
from __future__ import annotations

import weakref
from contextlib import nullcontext
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import torch

from bench.data.base import take, to_device


class Sampler:
    """Endless seeded mini-batches from a split; counts the samples it hands out.

    ``prefetch``: prepare the next batch in a background thread (None: on for CUDA devices; on
    CPU the thread would only compete with the step for the same cores).

    ``domains`` (int64 ``[N]``, the source domain of each example of a pooled multi-source split):
    with two or more domains every batch is *balanced* as DomainBed draws it, one mini-batch of
    ``batch_size`` (at most that domain's size) from each domain, concatenated in domain order;
    :attr:`batch_domains` says the domain of each position of every batch.
    """

    def __init__(self, x: Any, y: torch.Tensor | None, batch_size: int, seed: int, device: str,
                 augment: Callable[[Any, torch.Generator], Any] | None = None,
                 prefetch: bool | None = None, domains: torch.Tensor | None = None):
        self.x, self.y, self.device, self.augment = x, y, device, augment
        self.n = len(y) if y is not None else len(x)
        self.batch_size = min(batch_size, self.n) if self.n else 0
        self.gen = torch.Generator().manual_seed(seed)
        self.samples = 0
        self._perm, self._pos = torch.empty(0, dtype=torch.long), 0
        self._per_domain: list[Sampler] = []
        self.batch_domains: torch.Tensor | None = None
        if domains is not None and self.n and int(domains.max()) > 0:
            # one index sampler per domain, all drawing from this sampler's generator in turn
            members = [torch.nonzero(domains == d).flatten() for d in range(int(domains.max()) + 1)]
            self._members = members
            for m in members:
                part = Sampler(m, None, batch_size, 0, "cpu", prefetch=False)
                part.gen = self.gen
                self._per_domain.append(part)
            sizes = torch.tensor([p.batch_size for p in self._per_domain])
            self.batch_domains = torch.repeat_interleave(torch.arange(len(sizes)), sizes)
            self.batch_size = int(sizes.sum())
        cuda = str(device).startswith("cuda")
        self.prefetch = cuda if prefetch is None else prefetch
        self._pin = cuda and torch.cuda.is_available()
        self._next: Future | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._stream = None

    def next_indices(self) -> torch.Tensor:
        if self.n == 0:
            raise RuntimeError("this strategy asked for a batch from an empty split")
        if self._per_domain:  # balanced: one block per domain, positions in the pooled split
            return torch.cat([m[p.next_indices()] for m, p in zip(self._members, self._per_domain)])
        if self._pos + self.batch_size > len(self._perm):
            self._perm, self._pos = torch.randperm(self.n, generator=self.gen), 0
        idx = self._perm[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx

    def next(self) -> Any:
        """``x`` (unlabelled sampler) or ``(x, y)`` on the device."""
        if not self.prefetch:
            batch, n = self._make()
        else:
            if self._next is None:  # first call: nothing prepared yet (and no thread until needed)
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="bench-prefetch")
                weakref.finalize(self, self._pool.shutdown, wait=False)
                if self._pin:
                    self._stream = torch.cuda.Stream()
                self._next = self._pool.submit(self._make)
            batch, n = self._next.result()
            if self._stream is not None:  # the step's stream waits for the side stream's copy
                torch.cuda.current_stream().wait_stream(self._stream)
                for t in (batch if isinstance(batch, tuple) else (batch,)):
                    if isinstance(t, torch.Tensor):
                        t.record_stream(torch.cuda.current_stream())
            self._next = self._pool.submit(self._make)  # the next batch, while this step runs
        self.samples += n
        return batch

    def _make(self) -> tuple[Any, int]:
        """One batch, ready on the device, and its size."""
        idx = self.next_indices()
        x, y = take(self.x, idx), (self.y[idx] if self.y is not None else None)
        if self._pin:  # page-locked host memory: the copy below is asynchronous
            x = x.pin_memory() if isinstance(x, torch.Tensor) and not x.is_cuda else x
            y = y.pin_memory() if y is not None and not y.is_cuda else y
        with torch.cuda.stream(self._stream) if self._stream is not None else nullcontext():
            x = to_device(x, self.device)
            if self.augment is not None:  # training batches only; drawn from this sampler's generator
                x = self.augment(x, self.gen)
            batch = x if y is None else (x, y.to(self.device, non_blocking=True))
        return batch, len(idx)

