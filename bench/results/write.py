"""Writing into a results directory: every file appears atomically (temporary dot-name, fsync,
rename or link), so a kill at any instant leaves either the old state or the new one."""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench.errors import ResultsError
from bench.results.layout import ResultsDir, tmp_path_for
from bench.results.schema import SCHEMA, STATUSES

#: errno values that mean "no room to write": the run stops (and resumes later), no cell fails
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: errno values of a filesystem without hard links (some network and FUSE mounts)
NO_LINKS_ERRNOS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS)


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


#: a pre-flight probe writes this much: less room than this is no room
PROBE_BYTES = 1 << 16


def write_probe(folder: Path, nbytes: int = PROBE_BYTES) -> None:
    """Write ``nbytes`` into ``folder`` for real (flushed and fsynced: an empty file would fit on a
    full disk), then remove it; the OSError of a folder that cannot take it propagates."""
    probe = Path(folder) / f".write-probe.{os.getpid()}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"\0" * nbytes)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        probe.unlink(missing_ok=True)


def cell_path(results_dir: str | Path, cell_key: str) -> Path:
    return ResultsDir(results_dir).row(cell_key)


def write_row(results_dir: str | Path, row: dict[str, Any]) -> Path:
    """Write one cell's row: to a temporary name, fsync, then rename into place (atomic)."""
    results = ResultsDir(results_dir)
    results.root.mkdir(parents=True, exist_ok=True)
    missing = [f.name for f in SCHEMA if f.name not in row]
    if missing:
        raise ValueError(f"row lacks columns {missing}")
    unknown = sorted(set(row) - set(SCHEMA.names))
    if unknown:  # a misspelt or undeclared column would be dropped silently: add it to COLUMNS
        raise ValueError(f"row has keys that are not columns: {unknown}")
    if row["status"] not in STATUSES:
        raise ValueError(f"status {row['status']!r} is not one of {STATUSES}")
    table = pa.Table.from_pylist([{f.name: row[f.name] for f in SCHEMA}], schema=SCHEMA)
    try:
        return write_table_atomically(table, results.row(row["cell_key"]))
    except OSError as e:
        why = "the disk is full (or a quota / file-size limit was hit)" if disk_full(e) else str(e)
        raise ResultsError(f"could not write the result of cell {row['cell_key']} to {results}: "
                           f"{why}. Finished cells are intact; free space (or fix the directory) and "
                           "run the same command again to resume.") from e


def write_table_atomically(table: pa.Table, final: Path) -> Path:
    """``table`` as Parquet at ``final``: a dot-name (invisible to dataset readers until the
    rename makes it a result), fsync, rename. Raises OSError; leaves no temporary behind."""
    tmp = tmp_path_for(final)
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def create_exclusively(final: Path, data: bytes) -> bool:
    """Write ``data`` to ``final`` only if ``final`` does not exist yet, atomically: written to a
    temporary name and fsynced first, then hard-linked into place (``link`` fails if the name
    exists, so of concurrent writers exactly one wins and nobody ever reads a partial file).
    True if this call created ``final``, False if it existed. Raises OSError."""
    tmp = tmp_path_for(final)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in NO_LINKS_ERRNOS:
                raise
            return _create_without_links(final, data)
        _fsync_dir(final.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _create_without_links(final: Path, data: bytes) -> bool:
    """Exclusive create on a filesystem without hard links (not atomic against a crash mid-write;
    a reader then finds a short file and says what to do)."""
    try:
        with open(final, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except FileExistsError:
        return False
    return True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory; the link is still in place
        pass
    finally:
        os.close(fd)
