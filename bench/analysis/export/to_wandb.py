"""Weights & Biases: a project per suite, a run per suite run and per cell, grouped by the run id.

W&B has no nested runs: a cell's run is in the group of its suite run (``group=<run_id>``,
``job_type`` ``cell`` or ``suite-run``). Params and, under ``provenance``, the tags are the run's
config; the final metrics its summary (and its history at the cell's last step); the checkpoint
curves its history by step; the report folder an artifact (``type="report"``) of the suite run.
Mode and login are W&B's own (``WANDB_MODE=offline`` writes ``<dir>/wandb/offline-run-*``, which
``wandb sync`` uploads later). Run ids are fixed (``<run_id>`` and ``<run_id>-<cell_key>``) and a run
whose folder is already under ``<dir>/wandb/`` is not written again, so exporting twice adds nothing.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.analysis.export import Exported
from bench.analysis.export.runs import CellRun, SuiteRun
from bench.errors import ExportError

#: the folder W&B writes a run into: ``offline-run-<date>_<time>-<id>`` (online: ``run-...``)
FOLDER = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-(.+)$")


def export(runs: list[SuiteRun], to: str | None, experiment: str | None, report: Path | None) -> Exported:
    import wandb

    root = Path(to or ".")
    done = Exported("wandb", str(root / "wandb"))
    settings = wandb.Settings(silent=True, console="off", save_code=False, disable_git=True,
                              disable_job_creation=True, x_disable_stats=True, x_disable_machine_info=True)
    try:
        for run in runs:
            common = {"project": experiment or run.suite or "transfer-bench", "dir": str(root),
                      "group": run.run_id, "settings": settings, "reinit": "create_new"}
            if found(root, run_id(run.run_id)):
                done.parents_found += 1
            else:
                write_parent(wandb, run, report, common)
                done.parents_new += 1
            for cell in run.cells:
                if found(root, run_id(cell.run_id, cell.cell_key)):
                    done.cells_found += 1
                    continue
                write_cell(wandb, cell, common)
                done.cells_new += 1
    except wandb.Error as e:
        raise ExportError(f"W&B: {' '.join(str(e).split())}") from None
    return done


def write_parent(wandb: Any, run: SuiteRun, report: Path | None, common: dict[str, Any]) -> None:
    w = wandb.init(id=run_id(run.run_id), name=run.name, job_type="suite-run",
                   config={**run.params, "provenance": run.tags}, **common)
    if report is not None:
        artifact = wandb.Artifact(f"report-{run_id(run.run_id)}", type="report")
        artifact.add_dir(str(report))
        w.log_artifact(artifact)
    w.finish()


def write_cell(wandb: Any, cell: CellRun, common: dict[str, Any]) -> None:
    w = wandb.init(id=run_id(cell.run_id, cell.cell_key), name=cell.name, job_type="cell",
                   config={**cell.params, "provenance": cell.tags}, **common)
    steps: dict[int, dict[str, float]] = {}
    for name, points in cell.series.items():
        for step, value in points:
            steps.setdefault(step, {})[name] = value
    steps.setdefault(int(cell.params.get("steps") or 0), {}).update(cell.metrics)
    for step in sorted(steps):
        w.log(steps[step], step=step)
    w.summary.update(cell.metrics)
    w.finish()


def run_id(*parts: str) -> str:
    """A W&B run id from the suite run's id (and the cell key): letters, digits, ``-`` and ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", "-".join(parts))[:64]


def found(root: Path, rid: str) -> bool:
    """A run of this id already written under ``<dir>/wandb/`` (``offline-run-<time>-<id>`` or,
    online, ``run-<time>-<id>``)."""
    folder = root / "wandb"
    return folder.is_dir() and any((m := FOLDER.match(p.name)) and m.group(1) == rid
                                   for p in folder.iterdir() if p.is_dir())
