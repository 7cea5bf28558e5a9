"""``bench export TRACKER RESULTS...``: results directories into an experiment tracker.

One parent run per suite run (``_runs/<run_id>.json``), one child run per cell (its row), the report
folder attached to each parent when given. ``runs.py`` turns rows into (params, metrics, tags,
series) once; each ``to_<tracker>.py`` writes those through the tracker's own API and finds what an
earlier export wrote, so exporting again adds only the runs that are new. Each tracker is an
optional extra of transfer-bench; a missing one is one error line with its ``pip install``.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from bench.errors import ExportError
from bench.extras import installed, pip_line

#: tracker -> (its module here, the package it needs)
TRACKERS = {"mlflow": ("to_mlflow", "mlflow"), "tensorboard": ("to_tensorboard", "tensorboard"),
            "wandb": ("to_wandb", "wandb")}


@dataclass
class Exported:
    """What one export did: runs written now and runs an earlier export had written already."""
    tracker: str
    where: str
    parents_new: int = 0
    parents_found: int = 0
    cells_new: int = 0
    cells_found: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (f"{self.tracker}: {self.parents_new} suite run(s) and {self.cells_new} cell run(s) "
                f"exported, {self.parents_found} and {self.cells_found} already there, to {self.where} "
                f"in {self.seconds:.1f} s")


def export_results(tracker: str, results: Iterable[str | Path], to: str | None = None,
                   experiment: str | None = None, report: str | Path | None = None) -> Exported:
    """Export every suite run of ``results`` to ``tracker`` at ``to`` (the tracker's default if None)
    under ``experiment`` (default: the suite's name). ExportError when it cannot."""
    from bench.analysis.export.runs import suite_runs

    results = list(results)
    writer = tracker_module(tracker)
    if report is not None and not Path(report).is_dir():
        raise ExportError(f"--report {report} is not a folder (bench report --out writes one)")
    start = time.perf_counter()
    runs = suite_runs(results)
    if not runs:
        raise ExportError(f"no suite runs in {', '.join(map(str, results))} (no _runs records or rows)")
    done = writer.export(runs, to, experiment, Path(report) if report else None)
    done.seconds = time.perf_counter() - start
    return done


def tracker_module(tracker: str, command: str = "bench export") -> Any:
    """The module that writes to ``tracker``; ExportError if it is unknown or its package is missing."""
    if tracker not in TRACKERS:
        raise ExportError(f"unknown tracker {tracker!r}; one of {', '.join(TRACKERS)}")
    module, package = TRACKERS[tracker]
    if not installed(package):
        raise ExportError(f"{command} {tracker} needs the package {package!r}, which is not "
                          f"installed. Install it with: {pip_line(package)}")
    return importlib.import_module(f"bench.analysis.export.{module}")
