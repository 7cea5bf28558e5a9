"""The on-disk entry of one cached source model: ``<entry>/model.safetensors`` + ``<entry>/meta.json``.

An entry is trusted only when ``meta.json`` parses, names this entry's source key and carries the
sha256 of ``model.safetensors`` that matches the file's bytes (checked before any weight is
loaded into a model). Anything else (flipped or truncated tensor bytes, a truncated or foreign
``meta.json``, an entry written before checksums existed) is not a source model: the caller
discards it and trains again, which reproduces the same model from the seed.

Writing: both files go into a temporary folder, are fsynced together with the folder, and the
folder is renamed into place, then the parent folder is fsynced, so that after a crash or power
loss an entry is either absent or complete.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from bench.sources import sha256 as file_sha256  # the one file hash (the fetched data's too)

CHECKSUM_KEY = "model_sha256"
MODEL_FILE, META_FILE = "model.safetensors", "meta.json"


def verified_meta(entry: Path) -> tuple[dict[str, Any] | None, str]:
    """``(meta, "")`` when ``entry`` is complete and its model file matches its checksum, else
    ``(None, why)``; ``why`` is ``""`` when there is no entry at all."""
    meta_path = entry / META_FILE
    if not meta_path.exists():
        return None, ""
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return None, f"meta.json unreadable ({type(e).__name__})"
    if not isinstance(meta, dict) or meta.get("source_key") != entry.name:
        return None, "meta.json is not this entry's"
    if not isinstance(meta.get("wall_s"), (int, float)):
        return None, "meta.json lacks wall_s"
    expected = meta.get(CHECKSUM_KEY)
    if not isinstance(expected, str):  # written before checksums: nothing to verify it by
        return None, f"meta.json has no {CHECKSUM_KEY} (an entry from an older version)"
    try:
        actual = file_sha256(entry / MODEL_FILE)
    except OSError as e:
        return None, f"{MODEL_FILE} unreadable ({type(e).__name__})"
    if actual != expected:
        return None, f"{MODEL_FILE} does not match its sha256"
    return meta, ""


def discard(entry: Path) -> None:
    """Remove ``entry``: renamed out of the way first (atomic), so that a removal interrupted
    half-way never leaves a partial folder under the entry's name; the caller holds the lock."""
    aside = entry.parent / f".{entry.name}.{uuid.uuid4().hex[:8]}.discarded.tmp"
    try:
        os.rename(entry, aside)
    except OSError:
        aside = entry
    shutil.rmtree(aside, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_entry(tmp: Path, write_model: Any, meta: dict[str, Any], entry: Path) -> bool:
    """Write the model (``write_model(path)``) and ``meta`` + its checksum into the new folder
    ``tmp``, make them durable, and rename ``tmp`` to ``entry``. False when ``entry`` already
    exists (another worker finished the same source model first: theirs is kept)."""
    try:
        tmp.mkdir(parents=True)
        write_model(tmp / MODEL_FILE)
        _fsync(tmp / MODEL_FILE)
        text = json.dumps({**meta, CHECKSUM_KEY: file_sha256(tmp / MODEL_FILE)}, indent=1)
        with open(tmp / META_FILE, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        _fsync(tmp)
    except BaseException:  # e.g. a full disk: leave no half-written entry behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.rename(tmp, entry)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    _fsync(entry.parent)
    return True
