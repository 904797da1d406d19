"""The on-disk cache of fetched series: one Parquet file per source, symbol and interval.

``<data root>/cache/<source>/<symbol>_<interval>.parquet`` holds the canonical *raw* frame an adapter
returned (tz-aware index, float64 columns, NaN kept: validation runs on every load, with that
run's settings), written atomically. The file's schema metadata (key ``forecaster``) is JSON:
``fetched_at`` (UTC ISO time of the last fetch), ``source``, ``symbol``, ``interval``,
``variables`` (the columns), ``tz`` and source-specific extras (``currency``, ``requested_tz``,
``covers_from``: the oldest start ever requested, ``null`` = the source's whole history).

A file that cannot be read back (garbage bytes, truncated, wrong layout) is reported with one
warning and treated as absent; it is never a crash.
"""

from __future__ import annotations

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

from forecaster.io import atomic_path
from forecaster.settings import paths

log = logging.getLogger(__name__)

META_KEY = b"forecaster"


def safe_name(name: str) -> str:
    """A file-name-safe version of a symbol: ``^GSPC`` -> ``_GSPC``, ``BRK-B`` stays, ``/`` -> ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9._=-]", "_", name.strip()).strip(".")
    return cleaned or "_"


def cache_path(source: str, name: str, interval: str) -> Path:
    """Where the cache file for ``source``/``name``/``interval`` lives (under the current data root)."""
    return paths().cache / safe_name(source) / f"{safe_name(name)}_{safe_name(interval)}.parquet"


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
    def last_complete(self) -> pd.Timestamp | None:
        """The last stamp where every column has a value (where an incremental fetch resumes)."""
        return last_complete(self.frame)

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


def read(path: str | Path, *, on_corrupt: str = "refetching") -> Cached | None:
    """Read a cache file; ``None`` when absent, or when corrupt (after one warning naming the file).

    ``on_corrupt`` ends that warning: what the caller does next (``"refetching"``, ``"ignoring it"``).
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
        frame = table.to_pandas()
        _check_frame(frame)
    except Exception as exc:  # any unreadable file means "no cache", never a crash
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        log.warning("cache file %s is corrupt (%s); %s", path, reason, on_corrupt)
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
