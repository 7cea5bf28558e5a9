"""TensorBoard: event files, one folder per run, written with tensorboard's own writer (no TensorFlow).

    <logdir>/<experiment>/<run_id>/                   the suite run: its settings and provenance as
                                                      text tables, the report as text (and copied
                                                      into report/ beside it: the artifact)
    <logdir>/<experiment>/<run_id>/<name>.<cell_key>/ a cell: its params in the HPARAMS tab, its
                                                      metrics as scalars at the cell's last step,
                                                      checkpoint/<column> curves, tags as a table

A folder holding an event file of this exporter (``*.bench``) is found again: a cell's is kept as
it is, a suite run's is rewritten (its report may be new), so exporting twice adds nothing.
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

from bench.analysis.export import Exported
from bench.analysis.export.runs import CellRun, SuiteRun

SUFFIX = ".bench"


def export(runs: list[SuiteRun], to: str | None, experiment: str | None, report: Path | None) -> Exported:
    root = Path(to or "runs")
    done = Exported("tensorboard", str(root))
    for run in runs:
        parent = root / component(experiment or run.suite or "transfer-bench") / component(run.run_id)
        found = written(parent)
        for old in found:
            old.unlink()
        write_parent(parent, run, report)
        done.parents_found += bool(found)
        done.parents_new += not found
        for cell in run.cells:
            folder = parent / f"{component(cell.name)}.{component(cell.cell_key)}"
            if written(folder):
                done.cells_found += 1
                continue
            write_cell(folder, cell)
            done.cells_new += 1
    return done


def write_parent(folder: Path, run: SuiteRun, report: Path | None) -> None:
    from tensorboard.plugins.text.summary import text_pb

    with Writer(folder) as w:
        w.summary(0, text_pb("suite", table(run.params)))
        w.summary(0, text_pb("tags", table(run.tags)))
        if report is not None:
            shutil.copytree(report, folder / "report", dirs_exist_ok=True)
            readme = report / "README.md"
            if readme.is_file():
                w.summary(0, text_pb("report", readme.read_text(errors="replace")))


def write_cell(folder: Path, cell: CellRun) -> None:
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams.summary_v2 import hparams_pb
    from tensorboard.plugins.text.summary import text_pb

    last = int(cell.params.get("steps") or 0)
    with Writer(folder) as w:
        w.summary(0, hparams_pb(cell.params, trial_id=f"{cell.run_id}/{cell.cell_key}"))
        w.summary(0, text_pb("tags", table(cell.tags)))
        for name, points in cell.series.items():
            for step, value in points:
                w.summary(step, Summary(value=[Summary.Value(tag=name, simple_value=value)]))
        w.summary(last, Summary(value=[Summary.Value(tag=k, simple_value=v) for k, v in cell.metrics.items()]))


class Writer:
    """tensorboard's event file writer, its file named ``*.bench`` so that an export finds it again."""

    def __init__(self, folder: Path):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        folder.mkdir(parents=True, exist_ok=True)
        self.writer = EventFileWriter(str(folder), filename_suffix=SUFFIX)

    def summary(self, step: int, summary: Any) -> None:
        from tensorboard.compat.proto.event_pb2 import Event

        self.writer.add_event(Event(wall_time=time.time(), step=int(step), summary=summary))

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.writer.close()


def written(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"events.out.tfevents.*{SUFFIX}")) if folder.is_dir() else []


def table(values: dict[str, Any]) -> Any:
    """A (key, value) table for the text plugin, which renders a 2-D array as a table itself."""
    import numpy as np

    return np.array([[str(k), str(v)] for k, v in sorted(values.items())] or [["", ""]], dtype=str)


def component(name: str) -> str:
    """One safe folder name from a data value: ``a->b`` -> ``a-_b``; never empty, ``.`` or ``..``."""
    safe = re.sub(r"[^\w.+=-]", "_", str(name)).strip(".")[:120]
    return safe or "_"
