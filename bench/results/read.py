"""Reading a results directory: rows, checkpoint tables, run records and the suite binding.

A damaged or foreign file (truncated, a corrupt data page, missing fields, invalid JSON) is skipped
with one :class:`bench.errors.ResultsWarning` naming it, and the rest is read as usual; ``bench run``
moves such files into ``_quarantine/`` and reruns their cells. Only what no skipping can fix stops
a reader: a file of a newer schema version (upgrade) or a missing directory.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from bench.errors import ResultsError, ResultsWarning
from bench.results.layout import ResultsDir
from bench.results.schema import (CHECKPOINT_COLUMNS, CORE_IDENTITY, SCHEMA, SCHEMA_VERSION, SELECTION_COLUMNS,
                                  VERSION_KEY)

#: what a reader may raise on a damaged file (pyarrow: ArrowInvalid, OSError for a bad page)
UNREADABLE = (pa.ArrowException, OSError, ValueError, KeyError)


class DamagedFile(Exception):
    """A results-directory file that cannot be used; the message says why (for a warning)."""


def skipped(path: Path, why: str, stacklevel: int = 3) -> None:
    warnings.warn(f"{path}: {why}; skipped (a `bench run` into this directory moves it to "
                  f"{ResultsDir.QUARANTINE}/ and reruns its cell)", ResultsWarning, stacklevel=stacklevel)


def result_files(results_dir: str | Path) -> list[Path]:
    return ResultsDir(results_dir).result_files()


def check_version(path: Path, schema: pa.Schema) -> None:
    """Raise :class:`DamagedFile` for a file of no schema version, ResultsError for a newer one."""
    meta = schema.metadata or {}
    if VERSION_KEY not in meta:
        raise DamagedFile("not a transfer-bench results file (no schema version)")
    version = int(meta[VERSION_KEY])
    if version > SCHEMA_VERSION:
        raise ResultsError(f"{path} has results schema version {version}, newer than this "
                           f"transfer-bench understands ({SCHEMA_VERSION}); upgrade transfer-bench "
                           "or use another --results directory")


def read_result_table(path: Path, one_cell: bool = False) -> pa.Table:
    """The rows of results file ``path``, read in full (every page: a corrupt data page behind a
    good footer shows only then). ``one_cell``: it must hold exactly the row of the cell its name
    says (what ``bench run`` writes; readers also take merged files of several rows).
    Raises :class:`DamagedFile`, or ResultsError for a newer schema version."""
    try:
        pf = pq.ParquetFile(path)
        check_version(path, pf.schema_arrow)
        table = pf.read()
    except UNREADABLE as e:
        raise DamagedFile(f"not a readable results file ({type(e).__name__}: {_one_line(e)})") from None
    if one_cell and (table.num_rows != 1 or "cell_key" not in table.column_names
                     or table.column("cell_key")[0].as_py() != path.stem):
        raise DamagedFile("does not hold exactly the row of the cell its name says")
    return table


def read_results(dirs: str | Path | Iterable[str | Path]) -> Any:
    """All rows of one or more results directories as one pandas DataFrame (damaged files skipped,
    each with a warning)."""
    import pandas as pd

    dirs = [dirs] if isinstance(dirs, (str, Path, ResultsDir)) else list(dirs)
    tables = []
    for d in dirs:
        if not Path(d).is_dir():
            raise ResultsError(f"results directory {d} does not exist")
        for path in result_files(d):
            try:
                tables.append(read_result_table(path))
            except DamagedFile as e:
                skipped(path, str(e))
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


def read_checkpoint_table(path: Path) -> pa.Table:
    """One cell's checkpoint table, read in full; :class:`DamagedFile` if it is not one."""
    return _read_cell_table(path, CHECKPOINT_COLUMNS, "checkpoint table")


def read_selection_table(path: Path) -> pa.Table:
    """One cell's in-run selection table (``ResultsDir.selection_table``); :class:`DamagedFile` if
    it is not one."""
    return _read_cell_table(path, SELECTION_COLUMNS, "selection table")


def _read_cell_table(path: Path, columns: tuple[str, ...], what: str) -> pa.Table:
    try:
        table = pq.read_table(path)
    except UNREADABLE as e:
        raise DamagedFile(f"not a readable {what} ({type(e).__name__}: {_one_line(e)})") from None
    if table.num_rows == 0:  # a cell with no adaptation steps writes an empty table
        return table
    absent = [c for c in columns if c not in table.column_names]
    if absent:
        raise DamagedFile(f"not a {what} of this harness (no column {', '.join(absent)})")
    if set(table.column("cell_key").to_pylist()) != {path.stem}:
        raise DamagedFile(f"holds the {what} of another cell than its name says")
    return table


def read_checkpoints(results_dirs: Iterable[str | Path], snapshots: Iterable[str] | None = None) -> Any:
    """Every checkpoint table under ``<dir>/_checkpoints`` of each directory, or None if there are none.

    With ``snapshots`` (one label per directory, as ``bench.analysis.report.data.load`` names them) each
    checkpoint row gets a ``snapshot`` column, so that the same cell_key in two snapshots stays apart.
    """
    return _read_cell_tables(results_dirs, snapshots, ResultsDir.checkpoint_files, read_checkpoint_table)


def read_selection_tables(results_dirs: Iterable[str | Path], snapshots: Iterable[str] | None = None) -> Any:
    """Every in-run selection table under ``<dir>/_selection`` of each directory, or None if there
    are none; ``snapshots`` as in :func:`read_checkpoints`."""
    return _read_cell_tables(results_dirs, snapshots, ResultsDir.selection_files, read_selection_table)


def _read_cell_tables(results_dirs, snapshots, files_of, read_one) -> Any:
    import pandas as pd

    dirs = [ResultsDir(d) for d in results_dirs]
    labels = list(snapshots) if snapshots is not None else [None] * len(dirs)
    frames = []
    for d, label in zip(dirs, labels):
        tables = []
        for path in files_of(d):
            try:
                table = read_one(path)
            except DamagedFile as e:
                skipped(path, str(e))
                continue
            if table.num_rows:
                tables.append(table.to_pandas())
        if not tables:
            continue
        df = pd.concat(tables, ignore_index=True)
        if label is not None:
            df["snapshot"] = label
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else None


def read_run_record(path: Path) -> dict:
    """A run record (``_runs/<id>.json``); :class:`DamagedFile` if it is not valid JSON of the
    record's shape or a declared cell lacks an identity field a table needs."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DamagedFile(f"not a readable run record ({_one_line(e)})") from None
    if not isinstance(record, dict):
        raise DamagedFile(f"not a run record (a JSON {type(record).__name__}, not an object)")
    cells = record.get("cells", [])  # records from before the list: no declared cells
    if not isinstance(cells, list):
        raise DamagedFile("its 'cells' is not a list")
    for ident in cells:
        absent = [k for k in CORE_IDENTITY if not isinstance(ident, dict) or ident.get(k) in (None, "")]
        if absent:
            raise DamagedFile(f"a declared cell lacks {', '.join(absent)}")
    return record


def read_run_records(results_dir: str | Path) -> list[dict]:
    """The directory's readable run records, oldest name first (damaged ones skipped with a warning)."""
    records = []
    for path in ResultsDir(results_dir).run_record_files():
        try:
            records.append(read_run_record(path))
        except DamagedFile as e:
            warnings.warn(f"{path}: {e}; skipped (its cells are not listed as missing)", ResultsWarning,
                          stacklevel=2)
    return records


def read_binding(results_dir: str | Path) -> dict | None:
    """``_suite.json``: ``{"suite": name, "protocols": [hash, ...]}``; None if there is none.
    Anything else (empty, ``[]``, wrong types) is a ResultsError saying what to do."""
    results = ResultsDir(results_dir)
    path = results.binding
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ResultsError(f"{path} cannot be read ({_one_line(e)}); fix its permissions, or use "
                           "another --results directory") from None
    why = ""
    try:
        bound = json.loads(text)
    except ValueError:
        bound, why = None, "empty (a run was killed while writing it)" if not text.strip() else "not JSON"
    if not why and not (isinstance(bound, dict) and isinstance(bound.get("suite"), str)
                        and isinstance(bound.get("protocols"), list)
                        and all(isinstance(p, str) for p in bound["protocols"])):
        why = 'not of the form {"suite": name, "protocols": [hash, ...]}'
    if why:
        raise ResultsError(f"{path} records which suite this directory holds, and it is {why}. If "
                           f"{results} holds only one suite's results, delete {path} and run again "
                           "(the next run records it anew); otherwise use another --results directory")
    return bound


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
