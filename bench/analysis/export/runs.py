"""What a results directory says to an experiment tracker, worked out once for every tracker.

A :class:`SuiteRun` (one ``_runs/<run_id>.json``, the parent run) holds the :class:`CellRun`s of the
rows that run wrote (the child runs). Each run is four plain dictionaries and the curves:

``params``   the cell's identity and hyper-parameters (a parent: the suite's settings)
``metrics``  accuracy, forgetting, gain, memory, throughput, transferability (NaN ones left out)
``tags``     provenance and outcome as text: git sha, protocol hash, device, package versions, status
``series``   ``checkpoint/<column>`` -> [(step, value), ...] from ``_checkpoints/<cell_key>.parquet``

A tracker module only writes these through its own API (names and values are data, never code or
markup) and finds what an earlier export wrote by the keys :data:`RUN_TAG` and :data:`CELL_TAG`.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from bench.results import (ResultsDir, read_checkpoint_table, read_checkpoints, read_result_table, read_results,
                           read_run_record, read_run_records)

#: the tags that find an exported run again: parent by run id, child by (run id, cell key)
RUN_TAG, CELL_TAG, KIND_TAG = "bench.run_id", "bench.cell_key", "bench.kind"
PARENT, CHILD = "suite-run", "cell"

#: the row's identity and settings that become a child's params (hparams are added key by key)
PARAM_COLUMNS = ("suite", "backbone", "strategy", "source_domain", "target_domain", "label_budget", "seed",
                 "trial", "selection_rule", "protocol", "target_split", "precision", "batch_size", "steps")
#: the row's numbers that become a child's metrics
METRIC_COLUMNS = ("target_acc", "target_acc_before", "source_acc_before", "source_acc_after", "forgetting",
                  "target_gain", "train_samples_per_s", "infer_samples_per_s", "peak_mem_allocated_bytes",
                  "peak_mem_reserved_bytes", "mem_baseline_bytes", "trainable_params", "total_params",
                  "adapter_bytes", "adapt_wall_s", "source_wall_s", "compile_s", "a_distance_before",
                  "a_distance_after", "logme", "leep", "nce", "hscore")
#: the row's provenance and outcome that become a child's tags (package versions: one tag each)
TAG_COLUMNS = ("cell_key", "run_id", "protocol_hash", "git_sha", "device_name", "host", "mem_kind",
               "source_cached", "status", "error", "started_at", "finished_at", "extra")
#: the run record's fields that become a parent's tags
RECORD_TAGS = ("run_id", "suite", "started_at", "device", "device_name", "git_sha", "host", "cells_to_run")
#: longest tag or param value kept (MLflow takes 6,000 characters for a param; the rest is cut)
MAX_VALUE = 5000


@dataclass
class CellRun:
    run_id: str
    cell_key: str
    name: str
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    series: dict[str, list[tuple[int, float]]]


@dataclass
class SuiteRun:
    run_id: str
    suite: str
    name: str
    params: dict[str, Any]
    tags: dict[str, str]
    spec: dict[str, Any] | None
    cells: list[CellRun] = field(default_factory=list)


def suite_runs(results_dirs: Iterable[str | Path]) -> list[SuiteRun]:
    """Every suite run of the directories (run records, and run ids only rows name), with its cells."""
    runs: dict[str, SuiteRun] = {}
    seen: set[tuple[str, str]] = set()  # a directory given twice, or copied rows, export once
    for d in map(ResultsDir, results_dirs):
        for record in read_run_records(d):
            run = parent_of(record)
            runs.setdefault(run.run_id, run)
        rows = read_results(d)
        curves = read_checkpoints([d])
        for row in rows.to_dict("records"):
            run_id = str(row["run_id"])
            if (run_id, row["cell_key"]) in seen:
                continue
            seen.add((run_id, row["cell_key"]))
            if run_id not in runs:  # a row whose run left no record (copied or merged files)
                runs[run_id] = parent_of({"run_id": run_id, "suite": row["suite"]})
            points = curves[curves["cell_key"] == row["cell_key"]] if curves is not None else None
            runs[run_id].cells.append(child_of(row, points))
    return sorted(runs.values(), key=lambda r: r.run_id)


def cell_run(results_dir: str | Path, run_id: str, cell_key: str) -> SuiteRun:
    """Suite run ``run_id`` of ``results_dir`` with the one cell ``cell_key``, read back from its row
    and checkpoint files: what ``bench run --log`` exports as the cell finishes (the parent and
    child that :func:`suite_runs` makes of the same files)."""
    d = ResultsDir(results_dir)
    row = read_result_table(d.row(cell_key), one_cell=True).to_pandas().to_dict("records")[0]
    path = d.run_record(run_id)
    run = parent_of(read_run_record(path) if path.is_file() else {"run_id": run_id, "suite": row["suite"]})
    curve = d.checkpoint(cell_key)
    points = read_checkpoint_table(curve).to_pandas() if curve.is_file() else None
    run.cells.append(child_of(row, points))
    return run


def parent_of(record: dict[str, Any]) -> SuiteRun:
    run_id, suite = str(record["run_id"]), str(record.get("suite") or "")
    tags = {k: text(record[k]) for k in RECORD_TAGS if record.get(k) not in (None, "")}
    tags.update(package_tags(record.get("package_versions")))
    tags.update({KIND_TAG: PARENT, RUN_TAG: run_id})
    spec = record.get("suite_spec") if isinstance(record.get("suite_spec"), dict) else None
    params = flatten(spec or {}, skip=("name",))
    for k, v in (record.get("options") or {}).items():
        if v not in (None, [], {}):
            params[f"options.{k}"] = v if isinstance(v, (int, float, str, bool)) else text(v)
    return SuiteRun(run_id, suite, f"{suite} {run_id}".strip(), params, tags, spec)


def child_of(row: dict[str, Any], points: Any = None) -> CellRun:
    params = {c: plain(row[c]) for c in PARAM_COLUMNS if present(row.get(c))}
    try:
        hparams = json.loads(row.get("hparams") or "{}")
    except ValueError:
        hparams = {}
    for k, v in sorted(hparams.items()) if isinstance(hparams, dict) else ():
        if v is not None:
            params[f"hparams.{safe_key(k)}"] = v if isinstance(v, (int, float, str, bool)) else text(v)
    metrics = {c: float(row[c]) for c in METRIC_COLUMNS if number(row.get(c))}
    tags = {c: text(row[c]) for c in TAG_COLUMNS if present(row.get(c)) and row[c] not in ("{}",)}
    tags.update(package_tags(row.get("package_versions")))
    tags.update({KIND_TAG: CHILD, RUN_TAG: str(row["run_id"]), CELL_TAG: str(row["cell_key"])})
    return CellRun(str(row["run_id"]), str(row["cell_key"]), cell_name(row), params, metrics, tags,
                   curves_of(points))


def curves_of(points: Any) -> dict[str, list[tuple[int, float]]]:
    """``checkpoint/<column>`` -> [(step, value)] for every numeric column of a cell's checkpoints."""
    if points is None or not len(points):
        return {}
    points = points.sort_values("step")
    series = {}
    for col in points.columns:
        if col in ("cell_key", "step", "final", "snapshot") or points[col].dtype.kind not in "fiu":
            continue
        pairs = [(int(s), float(v)) for s, v in zip(points["step"], points[col]) if number(v)]
        if pairs:
            series[f"checkpoint/{safe_key(col)}"] = pairs
    return series


def cell_name(row: dict[str, Any]) -> str:
    """``dann synth-digits->digits b10 s0`` (and ``t2`` for a search trial): the child's title."""
    trial = f" t{row['trial']}" if present(row.get("trial")) and int(row["trial"]) else ""
    return (f"{row['strategy']} {row['source_domain']}->{row['target_domain']} b{row['label_budget']} "
            f"s{row['seed']}{trial}")


def package_tags(versions: Any) -> dict[str, str]:
    if isinstance(versions, str):
        try:
            versions = json.loads(versions)
        except ValueError:
            return {"package_versions": text(versions)}
    return {f"package.{safe_key(k)}": text(v) for k, v in sorted((versions or {}).items())}


def flatten(spec: dict[str, Any], prefix: str = "", skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A nested suite spec as ``adapt.lr``-style params; lists become JSON text, None is left out."""
    out: dict[str, Any] = {}
    for k, v in spec.items():
        if k in skip or v is None:
            continue
        key = f"{prefix}{safe_key(str(k))}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) else text(v)
    return out


def safe_key(key: str) -> str:
    """A name every tracker takes as a key: letters, digits and ``_ - . /``; anything else is ``_``."""
    return re.sub(r"[^\w./-]", "_", str(key))[:200] or "_"


def text(value: Any) -> str:
    s = value if isinstance(value, str) else json.dumps(plain(value), default=str, sort_keys=True) \
        if isinstance(value, (dict, list, tuple)) else str(plain(value))
    return s[:MAX_VALUE]


def plain(value: Any) -> Any:
    """A numpy or pandas scalar as the Python one (a tracker's API takes those)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def number(value: Any) -> bool:
    try:
        return value is not None and not isinstance(value, (str, bool)) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def present(value: Any) -> bool:
    if value is None or value == "":
        return False
    try:
        return not (isinstance(value, float) and math.isnan(value)) and str(value) != "NaT"
    except TypeError:
        return True
