"""How a run executes its cells. Every executor claims a cell, runs it, writes its row atomically.

``inline``  in the runner's own process (fastest start; a hard crash takes the run down)
``process`` one long-lived worker process, restarted after a hard crash (default)
``ray``     Ray tasks on a local or remote Ray cluster (``pip install .[ray]``)
"""
from __future__ import annotations

import importlib
from typing import Callable

from bench.executors.base import Events, RunContext, execute_cell

EXECUTORS = ("process", "inline", "ray")


def get_executor(name: str) -> Callable[..., None]:
    """The ``run_cells(cells, rc, events, **options)`` function of executor ``name``."""
    modules = {"process": "bench.executors.process", "inline": "bench.executors.inline",
               "ray": "bench.executors.ray_tasks"}
    if name not in modules:
        raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    return importlib.import_module(modules[name]).run_cells


__all__ = ["EXECUTORS", "Events", "RunContext", "execute_cell", "get_executor"]
