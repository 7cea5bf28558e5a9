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
import os
import socket
import uuid
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 1
VERSION_KEY = b"transfer_bench_schema_version"

_STR, _I64, _F64 = pa.string(), pa.int64(), pa.float64()
SCHEMA = pa.schema(
    [
        # identity
        ("run_id", _STR), ("suite", _STR), ("cell_key", _STR), ("backbone", _STR),
        ("strategy", _STR), ("hparams", _STR), ("source_domain", _STR), ("target_domain", _STR),
        ("label_budget", _STR), ("seed", _I64), ("selection_rule", _STR),
        # hyper-parameter trial of a search (0 = the strategy's defaults); hparams holds its values
        ("trial", _I64),
        # accuracy, in percent; forgetting and gain in points
        ("target_acc", _F64), ("target_acc_before", _F64), ("source_acc_before", _F64),
        ("source_acc_after", _F64), ("forgetting", _F64), ("target_gain", _F64),
        # cost
        ("trainable_params", _I64), ("total_params", _I64), ("train_samples_per_s", _F64),
        ("infer_samples_per_s", _F64), ("peak_mem_allocated_bytes", _I64),
        ("peak_mem_reserved_bytes", _I64), ("mem_kind", _STR), ("mem_baseline_bytes", _I64),
        ("adapt_wall_s", _F64), ("source_wall_s", _F64), ("steps", _I64),
        ("source_cached", pa.bool_()), ("batch_size", _I64), ("adapter_bytes", _I64),
        # domain alignment: proxy A-distance between source and target features, before / after
        ("a_distance_before", _F64), ("a_distance_after", _F64),
        # transferability of the source model, before adaptation (bench/transferability.py)
        ("logme", _F64), ("leep", _F64), ("nce", _F64), ("hscore", _F64),
        # anything else a strategy or stage wants on record, as a JSON object
        ("extra", _STR),
        # outcome
        ("status", _STR), ("error", _STR),
        # provenance
        ("started_at", pa.timestamp("us", tz="UTC")), ("finished_at", pa.timestamp("us", tz="UTC")),
        ("git_sha", _STR), ("package_versions", _STR), ("device_name", _STR), ("host", _STR),
    ],
    metadata={VERSION_KEY: str(SCHEMA_VERSION).encode()},
)
STATUSES = ("ok", "failed", "oom", "diverged", "skipped")


class ResultsError(RuntimeError):
    """A results file that cannot be read as transfer-bench results (message says what to do)."""


def cell_path(results_dir: Path, cell_key: str) -> Path:
    return Path(results_dir) / f"{cell_key}.parquet"


def write_row(results_dir: str | Path, row: dict[str, Any]) -> Path:
    """Write one cell's row: to a temporary name, fsync, then rename into place (atomic)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    missing = [f.name for f in SCHEMA if f.name not in row]
    if missing:
        raise ValueError(f"row lacks columns {missing}")
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
        full = e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        why = "the disk is full (or a quota / file-size limit was hit)" if full else str(e)
        raise ResultsError(f"could not write the result of cell {row['cell_key']} to {results_dir}: "
                           f"{why}. Finished cells are intact; free space (or fix the directory) and "
                           "run the same command again to resume.") from e
    return final


def tmp_tag() -> str:
    """``<host>-<pid>`` of the writer, for temporary file names (see ``bench.resume``)."""
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
    # promote: files written before a column was added read with that column as null
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def finished_keys(results_dir: str | Path) -> set[str]:
    """Cell keys that already have a result file (any status)."""
    return {p.stem for p in result_files(results_dir)}
