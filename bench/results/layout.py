"""``ResultsDir``: where everything in a results directory lives, and what in it is the harness's.

Layout of a results directory::

    <dir>/<cell_key>.parquet              one row: a finished cell (any status)
    <dir>/_suite.json                     the binding: which suite, under which protocols
    <dir>/_runs/<run_id>.json             one file per run: suite, start time, provenance, cells
    <dir>/_source_models/<key>/           the source-model cache (shared by the cells of a sweep)
    <dir>/_locks/<cell_key>.lock          claims of cells being run; source-<key>.lock for the cache
    <dir>/_checkpoints/<cell_key>.parquet validator scores at K checkpoints of a cell
    <dir>/_selection/<cell_key>.parquet   in-run selection: its rule's score at each of its checks
    <dir>/_quarantine/                    whatever a run moved aside (damaged, foreign): never deleted
    <dir>/.<name>.<host>-<pid>.<rand>.tmp a file being written (invisible to readers)

pyarrow ignores names starting with ``_`` or ``.``, so the directory reads as one dataset with
``pyarrow.dataset.dataset(dir)``, ``pandas.read_parquet(dir)`` or DuckDB's ``read_parquet`` as long
as nothing else is in it: a run moves anything else into ``_quarantine/`` (``strays``).
"""
from __future__ import annotations

import os
import re
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path


def tmp_tag() -> str:
    """``<host>-<pid>`` of the writer, for temporary file names (see ``bench.run.resume``)."""
    return f"{socket.gethostname().replace('.', '_')}-{os.getpid()}"


def tmp_path_for(final: Path) -> Path:
    """The temporary name ``final`` is written under: ``.<stem>.<host>-<pid>.<rand>.tmp`` beside it
    (host and pid let a later run tell a crashed writer's leftover from a live writer's file)."""
    return final.parent / f".{final.stem}.{tmp_tag()}.{uuid.uuid4().hex[:8]}.tmp"


class ResultsDir:
    """One results directory: the paths of its parts and the listing of what is in it.

    Every module finds rows, run records, the source-model cache, locks, checkpoints and the
    quarantine through this object; nothing else spells the names."""

    BINDING = "_suite.json"
    RUNS = "_runs"
    SOURCE_MODELS = "_source_models"
    LOCKS = "_locks"
    CHECKPOINTS = "_checkpoints"
    SELECTION = "_selection"
    QUARANTINE = "_quarantine"
    #: the folders the harness creates and fills itself (``--fresh`` empties these)
    OWN_FOLDERS = (RUNS, SOURCE_MODELS, LOCKS, CHECKPOINTS, SELECTION)

    @staticmethod
    def check_name(name: str) -> str:
        """A suite's name becomes ``results/<name>`` (and ``--fresh`` empties it): one plain path
        component, never an absolute path, ``..``, a separator, or a name the harness reserves
        (``_suite.json``, ``_runs``, ... start with ``_``; dot-names are temporaries). ValueError if not."""
        why = ("is empty" if not name else
               "is an absolute path" if Path(name).is_absolute() or re.match(r"^[A-Za-z]:", name) else
               "contains a path separator" if "/" in name or "\\" in name else
               "is '.' or '..'" if name in (".", "..") else
               "starts with '.' or '_' (names the harness reserves)" if name[0] in "._" else
               "contains a control character" if any(ord(ch) < 32 or ord(ch) == 127 for ch in name) else "")
        if why:
            raise ValueError(f"suite name {name!r} {why}; the name is the results directory "
                             "results/<name>: use one plain name such as 'my-suite'")
        return name

    def __init__(self, root: str | Path | ResultsDir):
        self.root = root.root if isinstance(root, ResultsDir) else Path(root)

    def __str__(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"ResultsDir({str(self.root)!r})"

    def __fspath__(self) -> str:
        return str(self.root)

    # -- where things live --------------------------------------------------------------------
    def row(self, cell_key: str) -> Path:
        return self.root / f"{cell_key}.parquet"

    @property
    def binding(self) -> Path:
        return self.root / self.BINDING

    @property
    def runs(self) -> Path:
        return self.root / self.RUNS

    def run_record(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.json"

    @property
    def source_models(self) -> Path:
        return self.root / self.SOURCE_MODELS

    @property
    def locks(self) -> Path:
        return self.root / self.LOCKS

    def cell_lock(self, cell_key: str) -> Path:
        return self.locks / f"{cell_key}.lock"

    def source_lock(self, source_key: str) -> Path:
        return self.locks / f"source-{source_key}.lock"

    @property
    def checkpoints(self) -> Path:
        return self.root / self.CHECKPOINTS

    def checkpoint(self, cell_key: str) -> Path:
        return self.checkpoints / f"{cell_key}.parquet"

    @property
    def selection_tables(self) -> Path:
        return self.root / self.SELECTION

    def selection_table(self, cell_key: str) -> Path:
        """In-run selection's table of one cell: ``cell_key, step, final, score_<rule>, kept`` per
        check of its rule (the row's ``selection_step`` is the kept one's step)."""
        return self.selection_tables / f"{cell_key}.parquet"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / self.QUARANTINE

    # -- what is in it ------------------------------------------------------------------------
    def result_files(self) -> list[Path]:
        """The result files: regular ``*.parquet`` files at the top (a folder or a link loop that
        happens to be called ``x.parquet`` is not one)."""
        return _parquet_files(self.root)

    def checkpoint_files(self) -> list[Path]:
        return _parquet_files(self.checkpoints)

    def selection_files(self) -> list[Path]:
        return _parquet_files(self.selection_tables)

    def run_record_files(self) -> list[Path]:
        d = self.runs
        return sorted(p for p in d.glob("*.json") if not p.name.startswith(".") and p.is_file()) \
            if d.is_dir() else []

    def tmp_files(self) -> list[Path]:
        """Files being written (or left by a crashed writer): rows and the binding at the top,
        checkpoint and selection tables one folder down."""
        return [p for d in (self.root, self.checkpoints, self.selection_tables) if d.is_dir()
                for p in d.glob(".*.tmp")]

    def strays(self) -> list[Path]:
        """Entries at the top that are neither results nor the harness's: a note, a CSV export, a
        folder, a link loop. ``pandas.read_parquet(dir)`` recurses into folders and follows links,
        so any of them breaks the directory as a dataset (names starting ``_`` or ``.`` it skips)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if not p.name.startswith(("_", "."))
                      and not (p.suffix == ".parquet" and p.is_file()))

    def quarantine(self, path: Path, why: str) -> Path:
        """Move ``path`` (a file, folder or link, anywhere in the directory) into ``_quarantine/``
        with a note saying why; nothing is deleted. Raises OSError if it cannot be moved."""
        qdir = self.quarantine_dir
        qdir.mkdir(exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        inside = path.parent.relative_to(self.root) if path.parent != self.root else Path()
        prefix = "".join(f"{part}." for part in inside.parts)  # _checkpoints/x -> _checkpoints.x
        dest = qdir / f"{prefix}{path.name}.{stamp}"
        while dest.exists() or dest.is_symlink():  # never replace an earlier quarantined file
            dest = qdir / f"{prefix}{path.name}.{stamp}.{uuid.uuid4().hex[:6]}"
        os.rename(path, dest)
        (qdir / f"{dest.name}.why.txt").write_text(why + "\n")
        return dest


def _parquet_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith((".", "_")) and p.is_file())
