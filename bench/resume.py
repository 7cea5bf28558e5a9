"""What a (re)started run finds in its results directory, and what it must still do.

A kill -9 can stop a runner at any instant. What it may leave behind, and how the next run treats it:

* ``.<key>.<host>-<pid>.<rand>.tmp``: a result being written. Invisible to readers; deleted once its
  writer is gone (same host, pid dead) or older than a day (another host).
* ``<key>.parquet`` that does not read (truncated by a copy, foreign, another key inside): moved to
  ``_quarantine/`` with a warning and its cell run again. Nothing is deleted.
* a newer schema version: the run stops and says to upgrade (the files are someone's results).
* a cell claimed by a dead runner: its flock died with it, so the next run simply takes it.
"""
from __future__ import annotations

import os
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.results import SCHEMA_VERSION, VERSION_KEY, ResultsError, result_files

STALE_FOREIGN_TMP_S = 24 * 3600
NOT_OK = ("failed", "oom", "diverged")  # what --retry-failed reruns (skipped is deterministic)


def prepare_results_dir(results_dir: Path, fresh: bool = False) -> None:
    """Create (or with ``fresh`` empty) the directory, check it is writable, drop stale temp files."""
    if fresh and results_dir.exists():
        shutil.rmtree(results_dir)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        probe = results_dir / f".write-probe.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ResultsError(f"results directory {results_dir} is not writable ({e.strerror or e}); "
                           "pass --results with a directory you can write to") from None
    clean_stale_tmp(results_dir)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_tmp(results_dir: Path) -> list[Path]:
    """Delete temporary result files whose writer is gone; return what was deleted."""
    here, now, removed = socket.gethostname().replace(".", "_"), time.time(), []
    # checkpoint tables are written the same way, one folder down
    for tmp in [*results_dir.glob(".*.tmp"), *(results_dir / "_checkpoints").glob(".*.tmp")]:
        parts = tmp.name.split(".")  # ['', key, 'host-pid', rand, 'tmp']
        host, _, pid = parts[2].rpartition("-") if len(parts) == 5 else ("", "", "")
        try:
            age = now - tmp.stat().st_mtime
        except FileNotFoundError:
            continue
        if (host == here and pid.isdigit() and not _pid_alive(int(pid))) or age > STALE_FOREIGN_TMP_S \
                or not pid.isdigit():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def quarantine(path: Path, why: str) -> Path:
    qdir = path.parent / "_quarantine"
    qdir.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    dest = qdir / f"{path.name}.{stamp}"
    os.replace(path, dest)
    (qdir / f"{dest.name}.why.txt").write_text(why + "\n")
    return dest


def scan(results_dir: Path) -> tuple[dict[str, str], list[str]]:
    """({cell_key: status} of the readable results, warnings about files moved to _quarantine/)."""
    statuses, warnings = {}, []
    for path in result_files(results_dir):
        try:
            status = _read_status(path)
        except _Bad as e:
            dest = quarantine(path, str(e))
            warnings.append(f"{path.name}: {e}; moved to {dest} and its cell will run again")
            continue
        statuses[path.stem] = status
    return statuses, warnings


class _Bad(Exception):
    pass


def _read_status(path: Path) -> str:
    try:
        pf = pq.ParquetFile(path)
        meta = pf.schema_arrow.metadata or {}
        if VERSION_KEY not in meta:
            raise _Bad("not a transfer-bench results file (no schema version)")
        if int(meta[VERSION_KEY]) > SCHEMA_VERSION:
            raise ResultsError(f"{path} has results schema version {int(meta[VERSION_KEY])}, newer than "
                               f"this transfer-bench ({SCHEMA_VERSION}); upgrade transfer-bench or use "
                               "another --results directory")
        table = pf.read(columns=["cell_key", "status"])
    except (pa.ArrowInvalid, OSError, KeyError, ValueError) as e:
        raise _Bad(f"not a readable results file ({type(e).__name__}: {e})") from None
    if table.num_rows != 1 or table.column("cell_key")[0].as_py() != path.stem:
        raise _Bad("does not hold exactly the row of the cell its name says")
    return table.column("status")[0].as_py()


def needs_run(status: str | None, retry_failed: bool) -> bool:
    """Whether a cell whose result has ``status`` (None: no result) must run."""
    return status is None or (retry_failed and status in NOT_OK)
