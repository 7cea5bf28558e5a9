"""The results schema and its storage: one Parquet file per finished cell, written atomically.

Layout of a results directory::

    <dir>/<cell_key>.parquet       one row: a finished cell (any status)
    <dir>/_runs/<run_id>.json      one file per run: suite, start time, provenance
    <dir>/_source_models/<key>/    the source-model cache (shared by the cells of a sweep)

pyarrow ignores names starting with ``_`` or ``.``, so the directory reads as one dataset with
``pyarrow.dataset.dataset(dir)``, ``pandas.read_parquet(dir)`` or DuckDB's ``read_parquet``.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from bench.errors import ResultsError

SCHEMA_VERSION = 1
VERSION_KEY = b"transfer_bench_schema_version"

_STR, _I64, _F64, _BOOL = pa.string(), pa.int64(), pa.float64(), pa.bool_()
_TIME = pa.timestamp("us", tz="UTC")
NAN = float("nan")

#: THE definition of a row: (column, Arrow type, value before the cell sets it). The Parquet schema
#: and the empty row of a cell (``new_row``) derive from this list; a new column is added here, once,
#: with its default. Which columns a row takes from its cell says ``bench.plan.cells.CELL_FIELDS``.
COLUMNS: list[tuple[str, pa.DataType, Any]] = [
    # identity (``bench.plan.cells.IDENTITY_COLUMNS``): what the cell is
    ("run_id", _STR, ""), ("suite", _STR, ""), ("cell_key", _STR, ""), ("backbone", _STR, ""),
    ("strategy", _STR, ""), ("hparams", _STR, "{}"), ("source_domain", _STR, ""),
    ("target_domain", _STR, ""), ("label_budget", _STR, ""), ("seed", _I64, 0),
    ("selection_rule", _STR, ""),
    # hyper-parameter trial of a search (0 = the strategy's defaults); hparams holds its values
    ("trial", _I64, 0),
    # protocol choices (docs/training-protocols.md): joint / two-stage training, inductive / transductive target
    ("protocol", _STR, "two_stage"), ("target_split", _STR, "inductive"),
    # hash of everything in the cell that is not identity (steps, lr, selection, ...): rows whose
    # protocol_hash differs were measured under different protocols and are never pooled or compared
    ("protocol_hash", _STR, ""),
    # accuracy, in percent; forgetting and gain in points
    ("target_acc", _F64, NAN), ("target_acc_before", _F64, NAN), ("source_acc_before", _F64, NAN),
    ("source_acc_after", _F64, NAN), ("forgetting", _F64, NAN), ("target_gain", _F64, NAN),
    # cost
    ("trainable_params", _I64, 0), ("total_params", _I64, 0), ("train_samples_per_s", _F64, NAN),
    ("infer_samples_per_s", _F64, NAN), ("peak_mem_allocated_bytes", _I64, 0),
    ("peak_mem_reserved_bytes", _I64, 0), ("mem_kind", _STR, "cpu_rss"), ("mem_baseline_bytes", _I64, 0),
    ("adapt_wall_s", _F64, NAN), ("source_wall_s", _F64, NAN), ("steps", _I64, 0),
    ("source_cached", _BOOL, False), ("batch_size", _I64, 0), ("adapter_bytes", _I64, None),
    # domain alignment: proxy A-distance between source and target features, before / after
    ("a_distance_before", _F64, NAN), ("a_distance_after", _F64, NAN),
    # transferability of the source model, before adaptation (bench/cell/transferability.py); NaN at
    # label budget 0
    ("logme", _F64, NAN), ("leep", _F64, NAN), ("nce", _F64, NAN), ("hscore", _F64, NAN),
    # numeric precision of training and evaluation (fp32, tf32, bf16, fp16); with compile on, the
    # first adaptation step's wall time, which holds the compilation (NaN when off)
    ("precision", _STR, "fp32"), ("compile_s", _F64, NAN),
    # anything else a strategy or stage wants on record, as a JSON object
    ("extra", _STR, "{}"),
    # outcome
    ("status", _STR, "failed"), ("error", _STR, ""),
    # provenance
    ("started_at", _TIME, None), ("finished_at", _TIME, None),
    ("git_sha", _STR, ""), ("package_versions", _STR, "{}"), ("device_name", _STR, ""), ("host", _STR, ""),
]
SCHEMA = pa.schema([(name, kind) for name, kind, _ in COLUMNS],
                   metadata={VERSION_KEY: str(SCHEMA_VERSION).encode()})


def new_row() -> dict[str, Any]:
    """A row with every column at its default (accuracies NaN, counts 0, status ``failed``)."""
    return {name: default for name, _, default in COLUMNS}


def hparams_label(hparams: dict[str, Any] | str | None) -> str:
    """``rank=4,alpha=8``: a cell's hyper-parameters as tables, logs and the grid print them."""
    hp = json.loads(hparams or "{}") if isinstance(hparams, str) or hparams is None else hparams
    return ",".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in sorted(hp.items()) if v is not None)


STATUSES = ("ok", "failed", "oom", "diverged", "skipped")




#: errno values that mean "no room to write": the run stops (and resumes later), no cell fails
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a full disk, a quota or a file-size
    limit. Libraries that write through their own I/O layer (safetensors) report only the message,
    so the OS's text for those errors counts too."""
    texts = [os.strerror(n) for n in DISK_FULL_ERRNOS] + [f"os error {n})" for n in DISK_FULL_ERRNOS]
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if any(t in str(exc) for t in texts):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_error(where: str, exc: BaseException) -> ResultsError:
    return ResultsError(f"no room to write {where}: the disk is full (or a quota / file-size limit "
                        f"was hit: {exc}). The run stopped; finished cells are intact. Free space and "
                        "run the same command again to resume.")


def cell_path(results_dir: Path, cell_key: str) -> Path:
    return Path(results_dir) / f"{cell_key}.parquet"


def write_row(results_dir: str | Path, row: dict[str, Any]) -> Path:
    """Write one cell's row: to a temporary name, fsync, then rename into place (atomic)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    missing = [f.name for f in SCHEMA if f.name not in row]
    if missing:
        raise ValueError(f"row lacks columns {missing}")
    unknown = sorted(set(row) - set(SCHEMA.names))
    if unknown:  # a misspelt or undeclared column would be dropped silently: add it to COLUMNS
        raise ValueError(f"row has keys that are not columns: {unknown}")
    if row["status"] not in STATUSES:
        raise ValueError(f"status {row['status']!r} is not one of {STATUSES}")
    table = pa.Table.from_pylist([{f.name: row[f.name] for f in SCHEMA}], schema=SCHEMA)
    final = cell_path(results_dir, row["cell_key"])
    # a dot-name is invisible to dataset readers until the rename makes it a result; host and pid
    # in the name let a later run tell a crashed writer's leftover from a live writer's file
    tmp = results_dir / f".{row['cell_key']}.{tmp_tag()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        why = "the disk is full (or a quota / file-size limit was hit)" if disk_full(e) else str(e)
        raise ResultsError(f"could not write the result of cell {row['cell_key']} to {results_dir}: "
                           f"{why}. Finished cells are intact; free space (or fix the directory) and "
                           "run the same command again to resume.") from e
    return final


def tmp_tag() -> str:
    """``<host>-<pid>`` of the writer, for temporary file names (see ``bench.run.resume``)."""
    return f"{socket.gethostname().replace('.', '_')}-{os.getpid()}"


def result_files(results_dir: str | Path) -> list[Path]:
    d = Path(results_dir)
    return sorted(p for p in d.glob("*.parquet") if not p.name.startswith((".", "_"))) if d.is_dir() else []


def _check_version(path: Path, schema: pa.Schema) -> None:
    meta = schema.metadata or {}
    if VERSION_KEY not in meta:
        raise ResultsError(f"{path} is not a transfer-bench results file (no schema version); "
                           "move it out of the results directory")
    version = int(meta[VERSION_KEY])
    if version > SCHEMA_VERSION:
        raise ResultsError(f"{path} has results schema version {version}, newer than this "
                           f"transfer-bench understands ({SCHEMA_VERSION}); upgrade transfer-bench")


def read_results(dirs: str | Path | Iterable[str | Path]) -> "Any":
    """All rows of one or more results directories as one pandas DataFrame."""
    import pandas as pd

    dirs = [dirs] if isinstance(dirs, (str, Path)) else list(dirs)
    tables = []
    for d in dirs:
        if not Path(d).is_dir():
            raise ResultsError(f"results directory {d} does not exist")
        for path in result_files(d):
            try:
                schema = pq.read_schema(path)
            except (pa.ArrowInvalid, OSError) as e:
                raise ResultsError(f"{path} is not a readable Parquet file ({e}); delete it and "
                                   "rerun the suite to recompute that cell") from None
            _check_version(path, schema)
            tables.append(pq.read_table(path))
    if not tables:
        return pd.DataFrame({f.name: pd.Series(dtype=object) for f in SCHEMA})
    # promote: files written before a column was added read with that column as null, also when
    # no file of the directories has it yet
    df = pa.concat_tables(tables, promote_options="default").to_pandas()
    for name in SCHEMA.names:
        if name not in df.columns:
            df[name] = None
    return df


def finished_keys(results_dir: str | Path) -> set[str]:
    """Cell keys that already have a result file (any status)."""
    return {p.stem for p in result_files(results_dir)}
