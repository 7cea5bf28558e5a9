"""Run a suite: expand it to cells, skip the finished ones, run the rest, write one file per cell.

Resumption needs no bookkeeping beyond the results directory itself: a cell is finished exactly
when ``<results>/<cell_key>.parquet`` exists, and that file appears atomically.
"""
from __future__ import annotations

import json
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from bench import measure
from bench.results import finished_keys, write_row
from bench.suite import Cell, Suite, expand


@dataclass
class RunSummary:
    run_id: str
    results_dir: Path
    total: int
    already_done: int
    statuses: Counter = field(default_factory=Counter)

    @property
    def not_ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if s not in ("ok", "skipped"))


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def pending_cells(suite: Suite, results_dir: Path) -> tuple[list[Cell], int]:
    """(cells still to run, number already finished)."""
    cells = expand(suite)
    done = finished_keys(results_dir)
    todo = [c for c in cells if c.key() not in done]
    return todo, len(cells) - len(todo)


def prepare_results_dir(results_dir: Path, fresh: bool) -> None:
    if fresh and results_dir.exists():
        shutil.rmtree(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    for stale in results_dir.glob(".*.tmp"):  # left by a crash mid-write; never a result
        stale.unlink(missing_ok=True)


def write_run_record(suite: Suite, results_dir: Path, run_id: str, device: str, n_todo: int) -> None:
    runs = results_dir / "_runs"
    runs.mkdir(exist_ok=True)
    record = {"run_id": run_id, "suite": suite.name, "started_at": datetime.now(timezone.utc).isoformat(),
              "cells_to_run": n_todo, "device": device, "device_name": measure.device_name(device),
              "git_sha": measure.git_sha(), "package_versions": json.loads(measure.package_versions()),
              "host": measure.host(), "suite_spec": suite.model_dump(mode="json")}
    (runs / f"{run_id}.json").write_text(json.dumps(record, indent=1, default=str))


def check_data(cells: list[Cell]) -> None:
    """Raise :class:`bench.data.DataError` if any domain's data is missing (no decoding)."""
    from bench.data import check_domain

    for name in sorted({d for c in cells for d in (c.source_domain, c.target_domain)}):
        check_domain(name)


def run_suite(suite: Suite, results_dir: str | Path, device: str = "auto", fresh: bool = False,
              show_progress: bool = True, on_row: Callable[[dict], None] | None = None) -> RunSummary:
    import torch

    from bench.cell import run_cell
    from bench.progress import SuiteProgress

    results_dir = Path(results_dir)
    prepare_results_dir(results_dir, fresh)
    device = measure.resolve_device(device if device != "auto" else suite.device)
    if suite.threads:
        torch.set_num_threads(suite.threads)
    todo, done = pending_cells(suite, results_dir)
    check_data(todo)  # a missing dataset stops the run here, before any cell, with its layout
    run_id = new_run_id()
    write_run_record(suite, results_dir, run_id, device, len(todo))
    summary = RunSummary(run_id, results_dir, total=len(todo) + done, already_done=done)
    memo: dict = {}  # shared by the cells of this process (e.g. linear-probe features)
    with SuiteProgress(len(todo), enabled=show_progress) as bar:
        for cell in todo:
            bar.start_cell(cell.describe())
            row = run_cell(cell, results_dir, run_id, device, progress=bar.step, memo=memo)
            write_row(results_dir, row)
            summary.statuses[row["status"]] += 1
            bar.finish_cell(row)
            if on_row:
                on_row(row)
    return summary
