"""The model-store key of a file-backed series: the file's name plus a short hash of where it is.

Two files called ``sales.csv`` in different folders are different series, so they must never
share a model: the key is ``csv-<name>~<8 hex digits of the SHA-256 of the resolved absolute
path>`` (``csv-sales~1a2b3c4d``). One file has one key however it is named: a relative path, a
path with ``..`` and a symbolic link all resolve to the same real path. Before this, the key was
``csv-<name>`` (:func:`legacy_key`); :func:`same_name_keys` finds such keys (and keys of files of
the same name elsewhere) so a run that finds no model can say where one is, without serving it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from forecaster.data.cache import MAX_NAME, safe_key, safe_name


def real_path(path: str | Path) -> Path:
    """The absolute path with ``~``, ``..`` and links resolved (the file need not exist)."""
    return Path(path).expanduser().resolve()


def file_key_name(path: str | Path) -> str:
    """``<safe file name>~<hash of the resolved path>``: the name part of a file series' key."""
    real = real_path(path)
    digest = hashlib.sha256(str(real).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{safe_name(real.stem)[:MAX_NAME]}~{digest}"


def legacy_key(path: str | Path, source: str = "csv") -> str:
    """The key a model of this file was saved under before keys told files apart."""
    return f"{source}-{safe_key(Path(path).expanduser().stem)}"


def same_name_keys(path: str | Path, keys: Iterable[str], source: str = "csv") -> list[str]:
    """Keys among ``keys`` of files with this file's name: the legacy key, and other folders'."""
    own = f"{source}-{file_key_name(path)}"
    prefix = f"{source}-{safe_name(real_path(path).stem)[:MAX_NAME]}~"
    legacy = {legacy_key(path, source), f"{source}-{safe_key(real_path(path).stem)}"}
    return [k for k in keys if k != own and (k in legacy or _is_file_key(k, prefix))]


def _is_file_key(key: str, prefix: str) -> bool:
    digest = key[len(prefix) :]
    return (
        key.startswith(prefix) and len(digest) == 8 and all(c in "0123456789abcdef" for c in digest)
    )
