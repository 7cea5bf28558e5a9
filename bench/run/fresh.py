"""``bench run --fresh``: empty a results directory, deleting only what this harness wrote there.

The directory must be empty or hold this harness's ``_suite.json`` (a suite's name or a mistyped
``--results`` must never make the harness delete somebody's folder), and must not be a symlink.
Everything is checked before anything is touched: every folder to empty must be writable (an
immutable or read-only subfolder stops --fresh with nothing deleted, not halfway). Then

* the harness's own entries go: the binding, result files, ``_runs``, ``_source_models``,
  ``_locks``, ``_checkpoints`` and temporary files;
* anything else (a note, a folder, a foreign Parquet file) is moved to ``_quarantine/``, which is
  kept: what the harness did not create it does not delete.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from bench.errors import ResultsError
from bench.results import VERSION_KEY, ResultsDir, read_binding


def clear_for_fresh(results: ResultsDir) -> None:
    """Empty ``results`` as described above, or raise ResultsError having changed nothing."""
    root = results.root
    if root.is_symlink():
        raise ResultsError(f"--fresh does not delete through a symlink: {root} links to "
                           f"{os.readlink(root)}. Pass --results {root.resolve()} --fresh, or remove the link")
    if not root.exists():
        return
    if not root.is_dir():
        raise ResultsError(f"{root} is a file, not a results directory; pass another --results")
    try:
        entries = sorted(root.iterdir())
    except OSError as e:
        raise ResultsError(f"--fresh cannot list {root} ({e.strerror or e}); fix its permissions or "
                           "pass another --results") from None
    if not entries:
        return
    if read_binding(results) is None:
        raise ResultsError(f"--fresh deletes only a results directory of this harness, and {root} has "
                           f"no {ResultsDir.BINDING}: it is not one (or was never run into). Pass another "
                           "--results, or empty it yourself")
    own = [p for p in entries if _is_own(results, p)]
    foreign = [p for p in entries if p not in own and p != results.quarantine_dir]
    blocked = _blockers(root, own, foreign)
    if blocked:
        raise ResultsError(f"--fresh stopped before deleting anything: {blocked[0]} "
                           f"{'(and ' + str(len(blocked) - 1) + ' more) ' if len(blocked) > 1 else ''}"
                           "cannot be changed (read-only or immutable). Fix the permissions "
                           "(chmod u+w / chattr -i) or pass another --results")
    for path in foreign:
        results.quarantine(path, "found by bench run --fresh: not written by this harness, so moved here "
                                 "rather than deleted")
    for path in own:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _is_own(results: ResultsDir, path: Path) -> bool:
    """Whether ``path`` (an entry at the top of the directory) is one the harness writes."""
    name = path.name
    if name == ResultsDir.BINDING or name in ResultsDir.OWN_FOLDERS:
        return True
    if name.startswith(".") and (name.endswith(".tmp") or name.startswith(".write-probe.")):
        return not path.is_dir() or path.is_symlink()
    if path.suffix == ".parquet" and path.is_file() and not path.is_symlink() and not name.startswith("_"):
        try:
            return VERSION_KEY in (pq.read_schema(path).metadata or {})
        except Exception:  # unreadable: maybe ours, maybe not; moved aside, never deleted
            return False
    return False


def _blockers(root: Path, own: list[Path], foreign: list[Path]) -> list[Path]:
    """What --fresh would have to change but could not (a folder without write permission, an
    immutable file or folder), all found before anything changes."""
    def changeable(d: Path) -> bool:
        return os.access(d, os.W_OK | os.X_OK | os.R_OK)

    blocked = [] if changeable(root) else [root]
    for path in own + foreign:
        if path.is_dir() and not path.is_symlink():
            # emptied (own) or renamed into _quarantine (foreign: rename rewrites its '..')
            folders = os.walk(path, onerror=lambda e: blocked.append(Path(e.filename))) if path in own \
                else [(str(path), [], [])]
            blocked += [Path(f) for f, _, _ in folders if not changeable(Path(f))]
        elif _immutable(path):
            blocked.append(path)
    quarantine = root / ResultsDir.QUARANTINE
    if foreign and quarantine.is_dir() and not changeable(quarantine):
        blocked.append(quarantine)
    return blocked


def _immutable(path: Path) -> bool:
    """An entry nobody may unlink or rename (chattr +i / +a), whatever the folder's permissions."""
    st = os.lstat(path)
    flags = getattr(st, "st_flags", None)
    if flags is not None:  # BSD, macOS
        import stat

        return bool(flags & (stat.UF_IMMUTABLE | stat.SF_IMMUTABLE | stat.UF_APPEND | stat.SF_APPEND))
    if path.is_symlink():
        return False
    # Linux has no st_flags, but access(W_OK) fails on an immutable inode even for root and for
    # the owner of a writable file (a merely read-only file in a writable folder can be unlinked)
    may_write = os.geteuid() == 0 or (st.st_uid == os.geteuid() and st.st_mode & 0o200)
    return bool(may_write) and not os.access(path, os.W_OK)
