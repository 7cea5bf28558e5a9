"""What every executor shares: the run's context, claiming a cell, OOM back-off, crash rows."""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.cell.row_parts import Outcome
from bench.cell.run_cell import base_row, run_cell
from bench.locks import try_claim
from bench.plan.cells import Cell, smaller_batch
from bench.results import ResultsDir, write_row
from bench.run.resume import needs_run, result_status

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RunContext:
    """Everything a worker needs besides the cell (picklable: it travels to worker processes)."""

    results_dir: Path
    run_id: str
    device: str
    threads: int | None = None
    retry_failed: bool = False
    oom_backoff: bool = False
    #: modules imported first in every worker (out-of-tree strategies, backbones, domains)
    plugins: tuple[str, ...] = ()
    #: what one cell asks a scheduler for (the suite's ``resources``)
    cpus_per_cell: float = 1
    gpus_per_cell: float = 0


@dataclass
class Events:
    """Callbacks from an executor to the runner (progress display, summary). An executor that
    runs several cells at once passes ``worker=i`` (0-based) to ``start``, ``step`` and ``done``."""

    start: Callable[..., None] = lambda cell, worker=0: None
    step: Callable[..., None] = lambda stage, step, total, worker=0: None
    done: Callable[..., None] = lambda cell, row, worker=0: None  # row None: claimed elsewhere
    extra: dict[str, Any] = field(default_factory=dict)


def load_plugins(plugins: tuple[str, ...]) -> None:
    for name in plugins:
        importlib.import_module(name)


def execute_cell(cell: Cell, rc: RunContext, progress: ProgressFn | None = None,
                 memo: dict | None = None) -> dict | None:
    """Claim ``cell``, run it (with OOM back-off if asked), write its row; return the row.

    ``None`` when another runner holds the cell's claim or finished it meanwhile: a cell is
    never run twice at once, whatever the number of shards, runners or workers.
    """
    results = ResultsDir(rc.results_dir)
    claim = try_claim(results.cell_lock(cell.key()))
    if claim is None:
        return None
    try:
        path = results.row(cell.key())
        # finished by another runner between our scan and our claim? (unreadable: recompute)
        if path.exists() and not needs_run(result_status(path), rc.retry_failed):
            return None
        row = run_with_backoff(cell, rc, progress, memo)
        write_row(rc.results_dir, row)
        return row
    finally:
        claim.release()


def run_with_backoff(cell: Cell, rc: RunContext, progress: ProgressFn | None, memo: dict | None) -> dict:
    """Run the cell; on out-of-memory (and ``rc.oom_backoff``) retry with half the adaptation batch.

    The row and its checkpoints keep the cell's key (``smaller_batch``: a stand-in filed under
    it); ``batch_size`` is the size that finally ran and
    ``extra.oom_backoff_batch_sizes`` lists every size tried. Only the adaptation batch backs off.
    """
    row = run_cell(cell, rc.results_dir, rc.run_id, rc.device, progress=progress, memo=memo)
    tried = [cell.adapt.batch_size]
    while rc.oom_backoff and row["status"] == "oom" and tried[-1] > 1:
        _free_accelerator_memory()
        tried.append(tried[-1] // 2)
        row = run_cell(smaller_batch(cell, tried[-1]), rc.results_dir, rc.run_id, rc.device,
                       progress=progress, memo=memo)
    if len(tried) > 1:
        row["extra"] = json.dumps({**json.loads(row["extra"] or "{}"), "oom_backoff_batch_sizes": tried})
    return row


def _free_accelerator_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def crash_row(cell: Cell, rc: RunContext, error: str, status: str = "failed") -> dict:
    """The row of a cell whose worker died without writing one (segfault, os._exit, SIGKILL)."""
    row = base_row(cell, rc.run_id, rc.device)
    row.update(Outcome(status, error[:4000]).columns())
    return row


def write_crash_row(cell: Cell, rc: RunContext, error: str, status: str = "failed") -> dict:
    row = crash_row(cell, rc, error, status)
    write_row(rc.results_dir, row)
    return row
