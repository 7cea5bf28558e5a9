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
