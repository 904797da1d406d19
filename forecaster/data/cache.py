"""The on-disk cache of fetched series: one Parquet file per source, symbol and interval.

``<data root>/cache/<source>/<symbol>_<interval>.parquet`` holds the canonical *raw* frame an adapter
returned (tz-aware index, float64 columns, NaN kept: validation runs on every load, with that
run's settings), written atomically. The file's schema metadata (key ``forecaster``) is JSON:
``fetched_at`` (UTC ISO time of the last fetch), ``source``, ``symbol``, ``interval``,
``variables`` (the columns), ``tz`` and source-specific extras (``currency``, ``requested_tz``,
``covers_from``: the oldest start ever requested, ``null`` = the source's whole history).

A file that cannot be read back (garbage bytes, truncated, wrong layout, metadata of the wrong
type such as a ``covers_from`` that is not a time) is reported with one warning and treated as
absent; it is never a crash. File names come from :func:`safe_key`, which keeps ``^GSPC`` and
``_GSPC`` apart; the loader also checks the stored ``symbol`` (and coordinates) before using a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from forecaster.errors import ConfigError
from forecaster.io import atomic_path
from forecaster.settings import paths

log = logging.getLogger(__name__)

META_KEY = b"forecaster"


def safe_name(name: str) -> str:
    """A file-name-safe version of a symbol: ``^GSPC`` -> ``_GSPC``, ``BRK-B`` stays, ``/`` -> ``_``.

    Lossy (``^GSPC`` and ``_GSPC`` meet): names that identify something go through
    :func:`safe_key`, which keeps them apart.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._=-]", "_", name.strip()).strip(".")
    return cleaned or "_"


MAX_NAME = 64
"""Longest safe name kept whole; longer ones are cut and carry the hash (file names stay short)."""


def safe_key(name: str) -> str:
    """A file-name-safe name that keeps ``name``'s identity (for cache files and model keys).

    A name that is already safe stays as it is (``AAPL``, ``BRK-B``, ``greensboro``,
    ``35.07_-79.79``), so existing keys do not move. Any other becomes its :func:`safe_name`, cut to
    :data:`MAX_NAME` characters, plus ``~`` and the first 8 hex digits of the SHA-256 of ``name``:
    ``^GSPC`` -> ``_GSPC~1a2b3c4d``. No safe name contains ``~``, so the two kinds never meet, and
    two changed names meet only if their hashes do. The result is one path component: no ``/``,
    never ``.`` or ``..``, no leading dot.
    """
    text = name.strip()
    cleaned = safe_name(text)
    if cleaned == text and len(cleaned) <= MAX_NAME:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[:MAX_NAME]}~{digest}"


def under(root: Path, path: Path, what: str) -> Path:
    """``path`` if it resolves inside ``root``; else a ConfigError (a name that escaped the data root)."""
    if not path.resolve().is_relative_to(root.resolve()):
        raise ConfigError(f"{what} {str(path)[:80]!r} would lie outside {root} — use a plain name")
    return path


def cache_path(source: str, name: str, interval: str) -> Path:
    """Where the cache file for ``source``/``name``/``interval`` lives (under the current data root).

    ``name`` should already be a :func:`safe_key`; every part is made safe again here, and the
    result is checked to stay under the cache folder.
    """
    root = paths().cache
    file = root / safe_name(source) / f"{safe_key(name)}_{safe_name(interval)}.parquet"
    return under(root, file, "cache file")


@dataclass(frozen=True)
class Cached:
    """A cache file read back: the raw frame (T x C float64, tz-aware index) and its metadata."""

    path: Path
    frame: pd.DataFrame
    meta: dict[str, Any]

    @property
    def fetched_at(self) -> pd.Timestamp | None:
        value = self.meta.get("fetched_at")
        try:
            stamp = pd.Timestamp(value) if value else None
        except (ValueError, TypeError):
            return None
        if stamp is not None and stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        return stamp

    @property
    def knows_coverage(self) -> bool:
        """Whether the file says how far back it reaches (files written before that was kept do not)."""
        return "covers_from" in self.meta

    @property
    def covers_from(self) -> pd.Timestamp | None:
        """The oldest start ever requested (UTC); ``None``: the source's whole history."""
        value = self.meta.get("covers_from")
        return None if value is None else pd.Timestamp(value)

    @property
    def last_complete(self) -> pd.Timestamp | None:
        """The last stamp where every column has a value (where an incremental fetch resumes)."""
        return last_complete(self.frame)

    @property
    def last_stamp(self) -> pd.Timestamp:
        """The last complete stamp, else the last one (what a notice says the data reaches)."""
        last = self.last_complete
        return last if last is not None else self.frame.index[-1]

    def when(self) -> str:
        """When it was fetched, for a note: ``"2024-03-09 14:02 UTC"``."""
        fetched = self.fetched_at
        return f"{fetched:%Y-%m-%d %H:%M} UTC" if fetched is not None else "at an unknown time"

    def age(self, now: pd.Timestamp | None = None) -> str:
        """How long ago it was fetched, in words: ``"3 days ago"``, ``"just now"``."""
        return age_text(self.fetched_at, now)


def last_complete(frame: pd.DataFrame) -> pd.Timestamp | None:
    full = frame.notna().all(axis=1).to_numpy()
    if not full.any():
        return None
    return frame.index[len(full) - 1 - int(np.argmax(full[::-1]))]


def age_text(when: pd.Timestamp | None, now: pd.Timestamp | None = None) -> str:
    if when is None:
        return "at an unknown time"
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    seconds = (now - when).total_seconds()
    if seconds < 90:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"  # pragma: no cover - unreachable (seconds >= 90 means at least a minute)


def _check_frame(frame: pd.DataFrame) -> None:
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise ValueError("the index is not tz-aware times")
    if frame.shape[1] == 0:
        raise ValueError("no columns")
    bad = [c for c in frame.columns if not pd.api.types.is_float_dtype(frame[c])]
    if bad:
        raise ValueError(f"non-float column(s) {bad}")


_META_TYPES: dict[str, tuple[type, ...]] = {
    "source": (str,),
    "symbol": (str,),
    "interval": (str,),
    "requested_tz": (str,),
    "timezone": (str, type(None)),
    "currency": (str, type(None)),
    "exchange_tz": (str, type(None)),
    "latitude": (int, float),
    "longitude": (int, float),
    "units": (dict,),
    "covers_from": (str, type(None)),
}
"""Types of the metadata fields that steer a refresh; a file with another type is corrupt."""


def _check_meta(meta: dict[str, Any]) -> None:
    for key, types in _META_TYPES.items():
        if key in meta and not isinstance(meta[key], types):
            raise ValueError(f"metadata '{key}' is {meta[key]!r:.40}")
    if meta.get("covers_from") is not None:
        try:
            stamp = pd.Timestamp(meta["covers_from"])
        except (ValueError, TypeError):
            stamp = None
        if stamp is None or stamp is pd.NaT or stamp.tzinfo is None:
            raise ValueError(
                f"metadata 'covers_from' is not a UTC time: {meta['covers_from']!r:.40}"
            )


def read(
    path: str | Path, *, on_corrupt: str = "refetching", identity: dict[str, Any] | None = None
) -> Cached | None:
    """Read a cache file; ``None`` when absent, or when corrupt (after one warning naming the file).

    ``identity``: metadata values the file must hold (``symbol``, ``interval``, coordinates); a file
    holding another series (two names that once shared a file name) is treated as corrupt.
    ``on_corrupt`` ends the warning: what the caller does next (``"refetching"``, ``"ignoring it"``).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        raw_meta = (table.schema.metadata or {}).get(META_KEY)
        meta = json.loads(raw_meta) if raw_meta else {}
        if not isinstance(meta, dict):
            raise ValueError("metadata is not a JSON object")
        _check_meta(meta)
        frame = table.to_pandas()
        _check_frame(frame)
    except Exception as exc:  # any unreadable file means "no cache", never a crash
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        log.warning("cache file %s is corrupt (%s); %s", path, reason, on_corrupt)
        return None
    other = {k: meta.get(k) for k, v in (identity or {}).items() if meta.get(k) != v}
    if other:
        wanted = ", ".join(f"{k} {identity[k]!r}" for k in other)  # type: ignore[index]
        log.warning("cache file %s holds %s, not %s; %s", path, other, wanted, on_corrupt)
        return None
    frame.index.name = "time"
    return Cached(path, frame.sort_index(), meta)


def write(path: str | Path, frame: pd.DataFrame, meta: dict[str, Any]) -> Path:
    """Atomically write ``frame`` (tz-aware index, float columns) with ``meta`` as JSON metadata.

    ``fetched_at`` defaults to now (UTC); ``variables`` and ``tz`` are filled from the frame.
    """
    _check_frame(frame)
    meta = {
        "fetched_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "variables": [str(c) for c in frame.columns],
        "tz": str(frame.index.tz),
        **meta,
    }
    table = pa.Table.from_pandas(frame, preserve_index=True)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), META_KEY: json.dumps(meta, default=str).encode()}
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def write_or_warn(path: Path, frame: pd.DataFrame, meta: dict[str, Any]) -> Path | None:
    """:func:`write`, but a failed write (disk full, read-only root) is one warning and ``None``:
    the fetched data is still used, only not cached."""
    try:
        return write(path, frame, meta)
    except OSError as exc:
        log.warning("could not write the cache file %s (%s); continuing without caching", path, exc)
        return None


def merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Rows of both, sorted by time; where both have a stamp, the new values win (revised data),
    except where the new value is missing and the old one is not.

    Columns: the union (new columns are NaN on old-only rows). Both indexes must be tz-aware;
    the result is in ``old``'s time zone.
    """
    if old is None or len(old) == 0:
        return new.sort_index()
    if len(new) == 0:
        return old.sort_index()
    new = new.copy()
    new.index = new.index.tz_convert(old.index.tz)
    combined = new.combine_first(old).sort_index(kind="stable")
    combined = combined[list(dict.fromkeys([*old.columns, *new.columns]))]
    combined.index.name = "time"
    return combined.astype(np.float64)
