"""``bench run --log TRACKER``: each cell into the tracker as soon as its row is written.

The runner calls :class:`LiveExport` with every finished row (its ``on_row``); the cell is read back
from its files (:func:`bench.analysis.export.runs.cell_run`) and written by the same tracker module
as ``bench export``, so the runs are the same ones and are found by the same tags: ``bench export``
afterwards, or a resumed run, adds nothing twice. A cell the tracker refuses (a server away, a
full disk) does not stop the suite: the row is on disk, the run ends with one warning naming how
many cells are missing there, and ``bench export`` adds them later.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.analysis.export import Exported, tracker_module
from bench.analysis.export.runs import cell_run
from bench.errors import ExportError


class LiveExport:
    """The ``on_row`` of a run that logs to ``tracker`` at ``to`` under ``experiment`` (each as for
    ``bench export``). ExportError at once if the tracker is unknown or not installed."""

    def __init__(self, tracker: str, results_dir: str | Path, to: str | None = None,
                 experiment: str | None = None):
        self.writer = tracker_module(tracker, command="bench run --log")
        self.tracker, self.results_dir, self.to, self.experiment = tracker, Path(results_dir), to, experiment
        self.done = Exported(tracker, to or "its default")
        self.refused: list[str] = []

    def __call__(self, row: dict[str, Any]) -> None:
        start = time.perf_counter()
        try:
            run = cell_run(self.results_dir, str(row["run_id"]), str(row["cell_key"]))
            done = self.writer.export([run], self.to, self.experiment, None)
        except (ExportError, OSError) as e:
            self.refused.append(f"{row.get('cell_key')}: {e}")
            return
        self.done.where = done.where
        self.done.cells_new += done.cells_new
        self.done.cells_found += done.cells_found
        self.done.seconds += time.perf_counter() - start

    def summary(self) -> str:
        """One line for the end of the run: what went where, and what did not."""
        line = (f"{self.tracker}: {self.done.cells_new} cell run(s) logged as they finished"
                f"{f', {self.done.cells_found} already there' if self.done.cells_found else ''}, to "
                f"{self.done.where} ({self.done.seconds:.1f} s in all)")
        if self.refused:
            line += (f"; {len(self.refused)} cell(s) not logged (first: {self.refused[0]}); "
                     f"`bench export {self.tracker} {self.results_dir}` adds them later")
        return line
