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

import json
import os
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.results import (SCHEMA_VERSION, VERSION_KEY, ResultsError, disk_full, disk_full_error,
                           result_files)

STALE_FOREIGN_TMP_S = 24 * 3600
#: the writability probe writes this much: less room than this (64 KiB) is no room for a row
PROBE_BYTES = 1 << 16
NOT_OK = ("failed", "oom", "diverged")  # what --retry-failed reruns (skipped is deterministic)


def prepare_results_dir(results_dir: Path, fresh: bool = False) -> None:
    """Create (or with ``fresh`` empty) the directory, check it is writable, drop stale temp files."""
    if fresh and results_dir.exists():
        shutil.rmtree(results_dir)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        probe = results_dir / f".write-probe.{os.getpid()}"
        try:  # a real write, flushed to disk: an empty file would fit on a full disk
            with open(probe, "wb") as fh:
                fh.write(b"\0" * PROBE_BYTES)
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            probe.unlink(missing_ok=True)
    except OSError as e:
        if disk_full(e):
            raise disk_full_error(f"in the results directory {results_dir}", e) from None
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


def stray_files(results_dir: Path) -> list[Path]:
    """Visible files that are not results (a note, a CSV export): Parquet readers of the directory
    (``pandas.read_parquet(dir)``) would choke on them."""
    if not results_dir.is_dir():
        return []
    return sorted(p for p in results_dir.iterdir() if p.is_file() and p.suffix != ".parquet"
                  and not p.name.startswith(("_", ".")))


def scan(results_dir: Path, move_bad: bool = True) -> tuple[dict[str, str], list[str]]:
    """({cell_key: status} of the readable results, warnings about files moved to _quarantine/).

    ``move_bad=False`` (``--dry-run``) only looks: an unreadable result is not done, and stays put."""
    statuses, warnings = {}, []
    for path in result_files(results_dir):
        try:
            status = _read_status(path)
        except _Bad as e:
            if move_bad:
                dest = quarantine(path, str(e))
                warnings.append(f"{path.name}: {e}; moved to {dest} and its cell will run again")
            else:
                warnings.append(f"{path.name}: {e}; its cell will run again")
            continue
        statuses[path.stem] = status
    for path in stray_files(results_dir):
        why = "not a results file: Parquet readers of the directory would fail on it"
        if move_bad:
            warnings.append(f"{path.name}: {why}; moved to {quarantine(path, why)}")
        else:
            warnings.append(f"{path.name}: {why}; a run will move it to _quarantine/")
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


def result_status(path: Path) -> str | None:
    """The status stored in result file ``path``; None when it is not a readable result (a rerun
    recomputes that cell, and the atomic write replaces the file)."""
    try:
        return _read_status(path)
    except _Bad:
        return None


def needs_run(status: str | None, retry_failed: bool) -> bool:
    """Whether a cell whose result has ``status`` (None: no result) must run."""
    return status is None or (retry_failed and status in NOT_OK)


BINDING = "_suite.json"


def bind_results_dir(results_dir: Path, suite_name: str, protocols: set[str]) -> None:
    """A results directory holds one suite under one protocol. The first run records both in
    ``_suite.json``; a later run of another suite, or of the same suite with other training
    settings (another ``protocol_hash``), is refused: its rows would be pooled with these."""
    path = results_dir / BINDING
    mine = {"suite": suite_name, "protocols": sorted(protocols)}
    try:
        with open(path, "x") as fh:  # exclusive create: concurrent shards agree on one binding
            json.dump(mine, fh, indent=1)
        return
    except FileExistsError:
        pass
    except OSError as e:
        if disk_full(e):
            raise disk_full_error(f"{path}", e) from None
        raise ResultsError(f"could not write {path}: {e}") from None
    try:
        bound = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ResultsError(f"{path} is unreadable; delete it if {results_dir} holds only this "
                           "suite's results") from None
    if bound.get("suite") != suite_name:
        raise ResultsError(f"{results_dir} holds results of suite {bound.get('suite')!r}, not "
                           f"{suite_name!r}: their rows would be mixed. Use --results "
                           f"results/{suite_name} (or another directory), or --fresh to start over")
    other = sorted(protocols - set(bound.get("protocols", [])))
    if other:
        raise ResultsError(f"{results_dir} holds suite {suite_name!r} run under another protocol "
                           f"(training steps, learning rates, selection, ...: protocol_hash "
                           f"{', '.join(bound.get('protocols', []))} vs now {', '.join(other)}). Use "
                           "another --results directory for the changed suite, or --fresh to start over")
