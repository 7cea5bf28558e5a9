"""What a (re)started run finds in its results directory, and what it must still do.

A kill -9 can stop a runner at any instant. What it may leave behind, and how the next run treats it:

* ``.<key>.<host>-<pid>.<rand>.tmp``: a result being written. Invisible to readers; deleted once its
  writer is gone (same host, pid dead) or older than a day (another host).
* ``<key>.parquet`` that does not read (truncated by a copy, foreign, another key inside): moved to
  ``_quarantine/`` with a warning and its cell run again. Nothing is deleted.
* a newer schema version: the run stops and says to upgrade (the files are someone's results).
* ``_checkpoints/<key>.parquet`` that does not read (or is another cell's): moved to ``_quarantine/``
  with the cell's row, and the cell run again (a row must never stand without its checkpoints).
* ``_suite.json`` is created exclusively and atomically (written under a temporary name, then
  hard-linked into place): a kill leaves no empty binding, and concurrent shards agree on one.
* a folder, a link loop or any other file at the top: moved to ``_quarantine/`` (Parquet readers
  of the directory would fail on it).
* a cell claimed by a dead runner: its flock died with it, so the next run simply takes it.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from bench.results import (DamagedFile, ResultsDir, ResultsError, create_exclusively, disk_full,
                           disk_full_error, read_binding, read_checkpoint_table, read_result_table, write_probe)
from bench.run.fresh import clear_for_fresh

STALE_FOREIGN_TMP_S = 24 * 3600
NOT_OK = ("failed", "oom", "diverged")  # what --retry-failed reruns (skipped is deterministic)
BINDING = ResultsDir.BINDING


def prepare_results_dir(results_dir: Path, fresh: bool = False) -> None:
    """Create (or with ``fresh`` empty, see ``bench.run.fresh``) the directory, check it is
    writable, drop stale temp files."""
    results = ResultsDir(results_dir)
    if fresh:
        clear_for_fresh(results)
    root = results.root
    if root.is_symlink() and not root.is_dir():
        raise ResultsError(f"results directory {root} is a symlink to {os.readlink(root)}, which is not "
                           "a directory: create it, or pass another --results")
    if root.exists() and not root.is_dir():
        raise ResultsError(f"results directory {root} is a file, not a directory; pass another --results")
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_probe(root)
    except OSError as e:
        if disk_full(e):
            raise disk_full_error(f"in the results directory {root}", e) from None
        raise ResultsError(f"results directory {root} is not writable ({e.strerror or e}); "
                           "pass --results with a directory you can write to") from None
    clean_stale_tmp(root)


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
    for tmp in ResultsDir(results_dir).tmp_files():
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
    """Move ``path`` (in a results directory, at its top) into its ``_quarantine/``."""
    return ResultsDir(path.parent).quarantine(path, why)


def stray_files(results_dir: Path) -> list[Path]:
    """Entries at the top that are not results (a note, a CSV export, a folder, a link loop):
    Parquet readers of the directory (``pandas.read_parquet(dir)``) would choke on them."""
    return ResultsDir(results_dir).strays()


def scan(results_dir: Path, move_bad: bool = True) -> tuple[dict[str, str], list[str]]:
    """({cell_key: status} of the readable results, warnings about files moved to _quarantine/).

    Every result file is read in full (a corrupt data page behind a good footer is not a finished
    cell), and so is every checkpoint table (a damaged one takes its cell's row with it to the
    quarantine: the cell runs again). ``move_bad=False`` (``--dry-run``) only looks: an unreadable
    result is not done, and stays put."""
    results = ResultsDir(results_dir)
    mover = _Mover(results, move_bad)
    statuses = {}
    for path in results.result_files():
        try:
            statuses[path.stem] = _read_status(path)
        except _Bad as e:
            mover.move(path, str(e), "its cell will run again")
    for path in results.checkpoint_files():
        try:
            read_checkpoint_table(path)
        except DamagedFile as e:
            mover.move(path, str(e), "its cell will run again")
            if statuses.pop(path.stem, None) is not None:
                mover.move(results.row(path.stem), f"its checkpoint table was damaged ({e})", "")
    for path in results.strays():
        mover.move(path, "not a results file: Parquet readers of the directory would fail on it", "")
    return statuses, mover.warnings


class _Mover:
    """Quarantines (or, looking only, names) what a scan found, collecting one warning each."""

    def __init__(self, results: ResultsDir, move: bool):
        self.results, self.do_move, self.warnings = results, move, []

    def move(self, path: Path, why: str, then: str) -> None:
        name, then = path.relative_to(self.results.root), f" and {then}" if then else ""
        if not self.do_move:
            self.warnings.append(f"{name}: {why}; a run will move it to {ResultsDir.QUARANTINE}/{then}")
            return
        try:
            dest = self.results.quarantine(path, why)
        except OSError as e:
            self.warnings.append(f"{name}: {why}; could not move it to {ResultsDir.QUARANTINE}/ "
                                 f"({e.strerror or e}): move it out of {self.results} yourself{then}")
            return
        self.warnings.append(f"{name}: {why}; moved to {dest}{then}")


class _Bad(Exception):
    pass


def _read_status(path: Path) -> str:
    try:
        table = read_result_table(path, one_cell=True)
    except DamagedFile as e:
        raise _Bad(str(e)) from None
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


def bind_results_dir(results_dir: Path, suite_name: str, protocols: set[str]) -> None:
    """A results directory holds one suite under one protocol. The first run records both in
    ``_suite.json``; a later run of another suite, or of the same suite with other training
    settings (another ``protocol_hash``), is refused: its rows would be pooled with these."""
    results = ResultsDir(results_dir)
    path = results.binding
    mine = {"suite": suite_name, "protocols": sorted(protocols)}
    try:  # exclusive and atomic: concurrent shards agree on one binding, a kill leaves none
        if create_exclusively(path, json.dumps(mine, indent=1).encode()):
            return
    except OSError as e:
        if disk_full(e):
            raise disk_full_error(f"{path}", e) from None
        raise ResultsError(f"could not write {path}: {e.strerror or e}") from None
    bound = read_binding(results)
    if bound is None:  # deleted between our attempt and our read: take it again
        return bind_results_dir(results_dir, suite_name, protocols)
    if bound["suite"] != suite_name:
        raise ResultsError(f"{results_dir} holds results of suite {bound['suite']!r}, not "
                           f"{suite_name!r}: their rows would be mixed. Use --results "
                           f"results/{suite_name} (or another directory), or --fresh to start over")
    other = sorted(protocols - set(bound["protocols"]))
    if other:
        raise ResultsError(f"{results_dir} holds suite {suite_name!r} run under another protocol "
                           f"(training steps, learning rates, selection, ...: protocol_hash "
                           f"{', '.join(bound['protocols'])} vs now {', '.join(other)}). Use "
                           "another --results directory for the changed suite, or --fresh to start over")
