"""Run a suite: expand it to cells, skip the finished ones, run the rest, write one file per cell.

Resumption needs no bookkeeping beyond the results directory itself: a cell is finished exactly
when ``<results>/<cell_key>.parquet`` exists, and that file appears atomically (``bench.run.resume``
says what a crash can leave and how a rerun treats it). Cells run through an executor
(``bench.run.executors``: a worker process by default, so that a hard crash costs one cell, not the run);
``--shard i/n`` picks a cost-balanced part of the grid (``bench.plan.sharding``).
"""
from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

from bench.backbones.base import BACKBONES
from bench.cell.run_cell import cached_domain
from bench.data import check_cache, check_domain
from bench.errors import SuiteError
from bench.plan.cells import Cell, expand, identity_row
from bench.plan.sharding import expected_work, parse_shard, shard_cells
from bench.plan.suite import Suite
from bench.results import ResultsDir, ResultsError, disk_full, disk_full_error, tmp_path_for
from bench.run.executors import Events, RunContext, get_executor
from bench.run.progress import SuiteProgress
from bench.run.resume import bind_results_dir, needs_run, prepare_results_dir, scan
from bench.train import measure


@dataclass
class RunSummary:
    run_id: str
    results_dir: Path
    total: int
    already_done: int
    statuses: Counter = field(default_factory=Counter)
    #: cells another runner (shard, process) held or finished while this one ran
    elsewhere: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def not_ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if s not in ("ok", "skipped"))


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def pending_cells(cells: list[Cell], results_dir: Path,
                  retry_failed: bool = False) -> tuple[list[Cell], int, list[str]]:
    """(those of ``cells`` still to run, the number of them already finished, warnings)."""
    statuses, warnings = scan(results_dir)
    todo = [c for c in cells if needs_run(statuses.get(c.key()), retry_failed)]
    return todo, len(cells) - len(todo), warnings


def write_run_record(suite: Suite, results_dir: Path, run_id: str, device: str, n_todo: int,
                     cells: list[Cell] = (), **options: Any) -> None:
    """``_runs/<run_id>.json``: what was asked (the suite, the identity of every declared cell, so
    a report can list the missing ones without importing the suite) and where it ran."""
    path = ResultsDir(results_dir).run_record(run_id)
    record = {"run_id": run_id, "suite": suite.name, "started_at": datetime.now(timezone.utc).isoformat(),
              "cells_to_run": n_todo, "device": device, "device_name": measure.device_name(device),
              "git_sha": measure.git_sha(), "package_versions": json.loads(measure.package_versions()),
              "host": measure.host(), "options": options, "suite_spec": suite.model_dump(mode="json"),
              "cells": [identity_row(c, run_id) for c in cells]}
    tmp = tmp_path_for(path)
    try:  # atomically: a full disk must not leave a 0-byte record behind
        path.parent.mkdir(exist_ok=True)
        tmp.write_text(json.dumps(record, indent=1, default=str))
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if disk_full(e):
            raise disk_full_error(f"the run record {path}", e) from None
        raise ResultsError(f"could not write the run record {path}: {e}") from None


def check_data(cells: list[Cell]) -> None:
    """Raise :class:`bench.data.DataError` if any domain's data or backbone's weights file is
    missing (no decoding). Backbone builders opt in with a ``check(spec)`` attribute."""
    for name in sorted({d for c in cells for d in (c.source_domain, c.target_domain)}):
        check_domain(name)
    for spec in {c.backbone.model_dump_json(): c.backbone for c in cells}.values():
        check = getattr(BACKBONES.get(spec.name), "check", None)
        if check is not None:
            check(spec)


def check_label_budgets(cells: list[Cell]) -> None:
    """A budget of k labels per class that a target domain cannot give is an input error, found
    before any cell runs (it used to run with fewer labels than its row said)."""
    wanted: dict[str, int] = {}
    for c in cells:
        if isinstance(c.label_budget, int) and c.label_budget > 0:
            wanted[c.target_domain] = max(wanted.get(c.target_domain, 0), c.label_budget)
    for name, k in sorted(wanted.items()):
        counts = torch.bincount(cached_domain(name).train.y)
        if int(counts.min()) < k:
            raise SuiteError(f"label budget {k} per class is more than target domain {name} has: its "
                             f"train split has {int(counts.min())} to {int(counts.max())} examples per "
                             f"class. Use a budget of at most {int(counts.min())}, or 'all'")


def cached_sources(results_dir: Path) -> set[str]:
    """The source keys whose model is already in the results directory's cache."""
    cache = results_dir / "_source_models"
    return {p.name for p in cache.iterdir() if (p / "meta.json").exists()} if cache.is_dir() else set()


def cells_at_once(executor: str, options: dict | None) -> int:
    """How many cells the process executor runs side by side (one progress bar each)."""
    options = options or {}
    if executor != "process":
        return 1
    if options.get("gpus"):
        return len(options["gpus"]) * options.get("cells_per_gpu", 1)
    return options.get("workers", 1)


def run_suite(suite: Suite, results_dir: str | Path, device: str = "auto", fresh: bool = False,
              show_progress: bool = True, on_row: Callable[[dict], None] | None = None,
              executor: str = "inline", shard: str | None = None, retry_failed: bool = False,
              oom_backoff: bool = False, plugins: tuple[str, ...] = (),
              executor_options: dict | None = None, overrides: tuple[str, ...] = ()) -> RunSummary:
    """Run the suite's pending cells into ``results_dir``.

    ``executor="inline"`` by default here (a library call stays in its process: debuggers, tests);
    ``bench run`` defaults to ``process``, which survives hard crashes of a cell. ``overrides``
    (already applied to ``suite``) are recorded in the run record as they were typed.
    """
    results_dir = Path(results_dir)
    run_cells = get_executor(executor)  # an unknown executor fails before anything is touched
    if shard:
        parse_shard(shard)  # so does a bad --shard
    # the machine first: a bad --device touches nothing and stores nothing
    device = measure.resolve_device(device if device != "auto" else suite.device)
    check_cache()  # so does an unusable data cache: it would fail every cell that reads data
    prepare_results_dir(results_dir, fresh)
    if suite.threads:
        torch.set_num_threads(suite.threads)
    cells = expand(suite)
    bind_results_dir(results_dir, suite.name, {c.protocol_hash() for c in cells})
    declared = shard_cells(cells, shard)  # this shard's cells, whether finished or not
    todo, done, warnings = pending_cells(declared, results_dir, retry_failed)
    check_data(todo)  # a missing dataset stops the run here, before any cell, with its layout
    check_label_budgets(todo)
    run_id = new_run_id()
    write_run_record(suite, results_dir, run_id, device, len(todo),
                     cells=declared, executor=executor, shard=shard,
                     retry_failed=retry_failed, oom_backoff=oom_backoff, overrides=list(overrides),
                     **{k: v for k, v in (executor_options or {}).items() if k != "address"})
    summary = RunSummary(run_id, results_dir, total=len(todo) + done, already_done=done,
                         warnings=warnings)
    rc = RunContext(results_dir=results_dir, run_id=run_id, device=device, threads=suite.threads,
                    retry_failed=retry_failed, oom_backoff=oom_backoff, plugins=tuple(plugins),
                    cpus_per_cell=suite.resources.cpus, gpus_per_cell=suite.resources.gpus)
    work = dict(zip((c.key() for c in todo), expected_work(todo, cached_sources(results_dir))))
    with SuiteProgress(len(todo), enabled=show_progress, workers=cells_at_once(executor, executor_options),
                       work=list(work.values())) as bar:
        def done_cell(cell: Cell, row: dict | None, worker: int = 0) -> None:
            if row is None:
                summary.elsewhere += 1
                bar.finish_cell({"status": "skipped"}, work[cell.key()], worker)
                return
            summary.statuses[row["status"]] += 1
            bar.finish_cell(row, work[cell.key()], worker)
            if on_row:
                on_row(row)

        events = Events(start=lambda c, worker=0: bar.start_cell(c.describe(), worker), step=bar.step,
                        done=done_cell)
        run_cells(todo, rc, events, **(executor_options or {}))
    return summary
