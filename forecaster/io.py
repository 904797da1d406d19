"""Atomic file writes: write to a temporary name in the same folder, fsync, then rename into place.

A crash at any moment leaves either the old file or the new one, never half of either; the folder
is fsynced after the rename so the new name itself survives a power cut. Also the file locks the
writers hold, and the one-line :class:`~forecaster.errors.StorageError` an OSError becomes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from forecaster import faults
from forecaster.errors import LockedError, storage_error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Use it for writers that want a filename (``df.to_parquet(tmp)``, ``torch.save(obj, tmp)``).
    On an exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600 files; give the final file the usual permissions (0666 minus umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        faults.point("io.replace")
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (non-JSON values such as timestamps via ``str``)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (renames, new files) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def held_lock(
    path: Path, *, timeout: float, busy: str, action: str, singleton: bool = False
) -> Iterator[None]:
    """Hold the file lock at ``path`` (its folder is created) for the ``with`` block.

    Another process holding it past ``timeout`` seconds is a :class:`LockedError` saying ``busy``;
    a lock file that cannot be created is a one-line StorageError (``cannot <action> ...``).
    ``singleton``: one lock object per file in this process, so nested use is re-entrant.
    """
    lock = FileLock(str(path), is_singleton=singleton)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=timeout)
    except Timeout:
        raise LockedError(busy) from None
    except OSError as exc:
        raise storage_error(exc, action, path) from exc
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Hold the writer lock of a partial model version: an OS lock the kernel frees when its holder
    dies, so it is free only when nobody is writing that version. The lock file is removed when
    the block ends. Raises :class:`filelock.Timeout` at once when a live process holds it."""
    owner = FileLock(str(path), timeout=0)
    owner.acquire()
    try:
        yield
    finally:
        owner.release()
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def storage(action: str, path: Path) -> Iterator[None]:
    """OSError (permissions, disk full, read-only) -> a one-line StorageError naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise storage_error(exc, action, path) from exc
