"""The ``inline`` executor: cells run one after another in the runner's own process.

Exceptions, NaN losses and out-of-memory errors still become rows (``bench.cell.run_cell.run_cell``), but a
hard crash (segfault, ``os._exit``, the kernel's OOM killer) ends the run: use ``process`` for that.
Useful for debugging (a debugger sees the cell) and for measuring the harness's own overhead.
"""
from __future__ import annotations

from bench.run.executors.base import Events, RunContext, execute_cell, load_plugins
from bench.plan.cells import Cell


def run_cells(cells: list[Cell], rc: RunContext, events: Events) -> None:
    load_plugins(rc.plugins)
    memo: dict = {}  # shared by the cells of this process (e.g. linear-probe features)
    for cell in cells:
        events.start(cell)
        events.done(cell, execute_cell(cell, rc, progress=events.step, memo=memo))
