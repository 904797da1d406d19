"""What one saved model version is: its id, the files it needs, and what its meta.json says.

Kept apart from :mod:`forecaster.registry` (which moves versions around) so that code that only
names or describes versions does not need the store's locking and housekeeping.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecaster.errors import ModelError

VERSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""What a version id may look like (``new_version_id`` makes ``20261123T190000123Z-ab12``): no dots,
no slashes, so an id can never name a folder outside ``versions/``."""
REQUIRED_FILES = ("model.pt", "config.yaml", "meta.json")
"""A version folder without all of these is incomplete: never listed, promoted or rolled back to."""


@dataclass(frozen=True)
class VersionInfo:
    """One saved model version and what its meta.json says about it."""

    key: str
    version: str
    path: Path
    meta: dict[str, Any]
    is_champion: bool = False

    @property
    def created_at(self) -> str:
        return str(self.meta.get("created_at", ""))

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.meta.get("metrics", {}))


def new_version_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique version id: UTC time to the millisecond plus 4 random hex digits
    (``20261123T190000123Z-ab12``). Milliseconds keep versions saved in the same second in the
    order they were made, which ``prune`` relies on to keep the newest."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(2)}"


def check_version_id(version: str, key: str = "") -> str:
    """``version`` if it is a valid id, else a one-line ModelError."""
    if not isinstance(version, str) or not VERSION_ID.fullmatch(version):
        where = f" of {key}" if key else ""
        raise ModelError(
            f"{version!r} is not a model version id{where} — ids look like 20261123T190000Z-ab12; "
            f"see `forecast models list{(' ' + key) if key else ''}`"
        )
    return version


def complete(path: Path) -> bool:
    """Whether ``path`` is a folder holding every one of :data:`REQUIRED_FILES`."""
    return path.is_dir() and all((path / f).is_file() for f in REQUIRED_FILES)


def read_meta(path: Path) -> dict[str, Any]:
    """The meta.json of the version folder ``path``, or ``{"error": ...}`` when unreadable."""
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError includes UnicodeDecodeError
        return {"error": "meta.json missing or unreadable"}
    return meta if isinstance(meta, dict) else {"error": "meta.json is not a JSON object"}
