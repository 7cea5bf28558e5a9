"""How a run executes its cells. Every executor claims a cell, runs it, writes its row atomically.

``inline``  in the runner's own process (fastest start; a hard crash takes the run down)
``process`` one long-lived worker process, restarted after a hard crash (default)
``ray``     Ray tasks on a local or remote Ray cluster (``pip install .[ray]``)

This module stays import-light (the command line reads ``EXECUTORS`` for its ``--executor`` choices
without importing torch); the shared machinery is in ``bench.run.executors.base``.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

#: executor name -> module with its ``run_cells(cells, rc, events, **options)``; the one list of them
EXECUTORS = {"process": "bench.run.executors.process", "inline": "bench.run.executors.inline",
             "ray": "bench.run.executors.ray_tasks"}


def get_executor(name: str) -> Callable[..., None]:
    """The ``run_cells(cells, rc, events, **options)`` function of executor ``name``."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    return importlib.import_module(EXECUTORS[name]).run_cells


def __getattr__(name: str) -> Any:  # Events, RunContext, execute_cell: imported when first used
    if name in ("Events", "RunContext", "execute_cell"):
        return getattr(importlib.import_module("bench.run.executors.base"), name)
    raise AttributeError(name)


__all__ = ["EXECUTORS", "Events", "RunContext", "execute_cell", "get_executor"]


class OptionError(ValueError):
    """An executor option that does not fit the others; ``option`` names it (``--gpus``, ...)."""

    def __init__(self, message: str, option: str):
        super().__init__(message)
        self.option = option


def executor_options(executor: str, address: str | None, gpus: str | None, cells_per_gpu: int,
                     workers: int) -> dict | None:
    """The executor's options from ``--address`` / ``--gpus`` / ``--cells-per-gpu`` / ``--workers``,
    checked (:class:`OptionError` naming the option that does not fit)."""
    options = {"address": address} if executor == "ray" else None
    if gpus is not None:
        if executor != "process":
            raise OptionError("--gpus runs process-executor workers; use --executor process (Ray's "
                              "per-cell `resources: {gpus: ...}` is the multi-node path)", "--gpus")
        from bench.run.executors.process import gpu_slots

        try:
            gpu_slots(gpus.split(","), cells_per_gpu)
        except ValueError as e:
            raise OptionError(str(e), "--gpus") from None
        if workers > 1:
            raise OptionError("--workers runs unpinned workers; with --gpus give the workers per GPU "
                              "as --cells-per-gpu", "--workers")
        options = {"gpus": gpus.split(","), "cells_per_gpu": cells_per_gpu}
    elif workers > 1:
        if executor != "process":
            raise OptionError("--workers runs process-executor workers; use --executor process (Ray "
                              "places cells by the suite's `resources:`)", "--workers")
        options = {"workers": workers}
    return options
