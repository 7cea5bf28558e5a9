"""Test-only strategies that fail on purpose, one per failure kind (imported as a --plugin).

Not shipped in bench/strategies/: they exist to prove that the harness turns each failure into a
row and goes on. Registered under ``debug_*`` names.
"""
from __future__ import annotations

import os
import signal
from typing import Literal

import torch

from bench.strategies.base import STRATEGIES, Hparams, Strategy


class _Supervised(Strategy):
    def setup(self) -> None:
        self.opt = self.optimizer(self.model.parameters())


def _register(name):
    def deco(cls):
        return cls if name in STRATEGIES else STRATEGIES.register(name)(cls)
    return deco


@_register("debug_raise")
class Raises(_Supervised):
    def update(self, step: int) -> dict[str, float]:
        raise RuntimeError("boom from debug_raise")


@_register("debug_nan")
class ProducesNaN(_Supervised):
    class Hparams(Hparams):
        nan_at: int = 2

    def update(self, step: int) -> dict[str, float]:
        out = self.supervised_step(self.opt)
        return {"loss": float("nan")} if step >= self.hp.nan_at else out


@_register("debug_oom")
class OutOfMemory(_Supervised):
    """Raises the error torch raises on a CUDA OOM whenever the batch is larger than ``max_batch``."""

    class Hparams(Hparams):
        max_batch: int = 4

    def update(self, step: int) -> dict[str, float]:
        if self.ctx.config.batch_size > self.hp.max_batch:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return self.supervised_step(self.opt)


@_register("debug_crash")
class HardCrash(_Supervised):
    """Ends its process without a Python exception: nothing inside the process can write a row."""

    class Hparams(Hparams):
        how: Literal["exit", "segv", "kill"] = "exit"

    def update(self, step: int) -> dict[str, float]:
        if self.hp.how == "exit":
            os._exit(3)
        os.kill(os.getpid(), signal.SIGSEGV if self.hp.how == "segv" else signal.SIGKILL)
        return {"loss": 0.0}


@_register("debug_rendezvous")
class Rendezvous(_Supervised):
    """Proves cells run at once without timing them: each cell leaves its worker's pid in ``dir``
    and waits until ``parties`` different pids are there; alone (one worker) it fails after
    ``timeout_s``."""

    class Hparams(Hparams):
        dir: str
        parties: int = 2
        timeout_s: float = 60.0

    def update(self, step: int) -> dict[str, float]:
        import time
        from pathlib import Path

        if step == 0:
            here = Path(self.hp.dir)
            (here / str(os.getpid())).touch()
            deadline = time.monotonic() + self.hp.timeout_s
            while len(list(here.iterdir())) < self.hp.parties:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"rendezvous: no {self.hp.parties} workers at once")
                time.sleep(0.05)
        return self.supervised_step(self.opt)
