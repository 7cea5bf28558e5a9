"""Advisory file locks (``fcntl.flock``) that coordinate processes sharing one results directory.

The kernel drops a flock when its holder dies, however it dies (kill -9 included), so a lock can
never go stale. Two uses: a *claim* on a cell (several runners or shards never run the same cell
at once) and the source-model cache (one worker trains a source model, the others wait and load).
flock works across processes of one machine and on most shared filesystems (NFSv4, Lustre, GPFS
with locking enabled); on a filesystem without it, locks degrade to no-ops with a warning.
"""
from __future__ import annotations

import fcntl
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class Claim:
    """A held lock; ``release()`` (or process death) frees it."""

    def __init__(self, fd: int | None):
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def try_claim(path: str | Path) -> Claim | None:
    """The lock at ``path`` if nobody else holds it, else ``None`` (never waits)."""
    fd = _open(Path(path))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError as e:  # filesystem without flock: run unlocked rather than not at all
        warnings.warn(f"file locks unsupported at {path} ({e}); concurrent runners are not coordinated")
        os.close(fd)
        return Claim(None)
    return Claim(fd)


@contextmanager
def exclusive(path: str | Path) -> Iterator[None]:
    """Hold the lock at ``path`` for the block, waiting for any other holder to finish."""
    fd = _open(Path(path))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:
            if isinstance(e, BlockingIOError):
                raise
            warnings.warn(f"file locks unsupported at {path} ({e}); proceeding without")
        yield
    finally:
        os.close(fd)
