"""What every source provides (:class:`Source`), what a request is, and helpers they share.

A source answers four questions, and owns every rule of its own that the answers need:

* ``resolve(cfg)``: which series a :class:`~forecaster.config.DataConfig` names (a :class:`Request`:
  safe file name, series key, label for messages, columns, the identity stored with a cache);
* ``covers(cached, req, cfg, need_end=...)``: whether a cached frame already holds the request;
* ``fetch(req, cfg, cached)``: the raw frame for the request merged into ``cached`` (its own overlap,
  revision and span rules), the metadata to store with it, and how many rows are new;
* ``to_series(frame, meta, req, cfg, origin=...)``: a raw frame as a validated Series, with the
  source's frequency, time zone and units.

``live`` sources (network) are cached and fall back to the cache, then the bundled snapshot; the
others (local files, bundled data) are read directly on every load. The loader knows nothing else
about any source, so a new one is one module plus one line in :mod:`forecaster.data.sources`.

Its :class:`Declaration` says what the rest of the program needs before a request exists: the
command-line flags that select it, the shipped config a run starts from, the ``data`` fields that
name one series, whether its series can form a group. Config resolution and the CLI read only that
(:mod:`forecaster.data.sources.flags`, :mod:`forecaster.config_resolve`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from forecaster.config import DataConfig
from forecaster.data import cache
from forecaster.data.series import Series
from forecaster.errors import ConfigError, DataError


@dataclass(frozen=True)
class Request:
    """One resolved series: which source, which thing, which columns."""

    source: str
    name: str
    """File-safe identity (:func:`~forecaster.data.cache.safe_key`): ``AAPL``, ``greensboro``, a stem."""
    label: str
    """For messages: ``AAPL``, ``greensboro``, ``35.07,-79.79``, ``prices.csv``."""
    interval: str
    key: str
    """The series key of the model store (``yahoo-AAPL-1d``); one safe path component."""
    target: str | None
    columns: list[str] | None
    """Value columns to keep; ``None`` = the source default."""
    flag: str = ""
    """The command-line flags that name this series, for "what to do" messages."""
    identity: dict[str, Any] = field(default_factory=dict)
    """Stored with a cache file; a file whose stored values differ holds another series."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Stored too; new rows are merged only into a file fetched with the same settings."""
    fetch_columns: tuple[str, ...] = ()
    """What a fetch returns: a cache lacking one of them is refetched, not merged into."""
    detail: Any = None
    """The adapter's own resolved object (a Place, a Path, a Snapshot)."""

    @property
    def cache_path(self) -> Path:
        """Where a live source caches this series (under the data root; it may not exist yet)."""
        return cache.cache_path(self.source, self.name, self.interval)

    def mergeable(self, cached: cache.Cached) -> bool:
        """Whether new rows for this request can be merged into ``cached`` (fetched the same way)."""
        same = all(cached.meta.get(k) == v for k, v in self.settings.items())
        return same and set(self.fetch_columns) <= set(cached.frame.columns)


@dataclass(frozen=True)
class Fetched:
    """A source's answer: the frame to cache (or use), its metadata and how many rows are new."""

    frame: pd.DataFrame
    meta: dict[str, Any]
    new_rows: int
    origin: str = "live"
    """For direct sources, what :class:`~forecaster.data.loader.Loaded` reports: ``file``, ``snapshot``."""
    detail: str = ""
    """For direct sources, one line for people: ``local file prices.csv``."""


@dataclass(frozen=True)
class Option:
    """One command-line option of a :class:`Flag` and the ``data`` field its value fills."""

    name: str
    """The option without dashes (``ticker`` is ``--ticker``), also the keyword of
    :func:`~forecaster.config.make_config` and of the CLI command's parameters."""
    field: str
    """The :class:`~forecaster.config.DataConfig` field it sets: ``symbol``, ``latitude``, ``path``."""
    help: str
    kind: Literal["text", "number", "file"] = "text"
    """How the command line parses it: text, a float, or a file path (kept as text)."""

    @property
    def flag(self) -> str:
        return f"--{self.name}"


@dataclass(frozen=True)
class Flag:
    """One way the command line names a series of a source: ``--ticker``, or ``--lat`` with ``--lon``."""

    options: tuple[Option, ...]
    example: str
    """How a user passes it, for "no series given" messages: ``--ticker AAPL``, ``--lat/--lon``."""
    noun: str
    """What the :func:`~forecaster.config.make_config` keyword names, for its messages: ``csv path``."""
    upper: bool = False
    """Values are upper-cased (tickers)."""
    group: bool = False
    """A comma-separated value (``AAPL,MSFT``) names a group (``data.group``) of that many series."""

    @property
    def label(self) -> str:
        """The flag's options for messages: ``--ticker``, ``--lat/--lon``."""
        return "/".join(o.flag for o in self.options)


def given(value: Any) -> bool:
    """Whether a flag's or a ``data`` field's value is set: not ``None`` and not empty text (a
    latitude of 0 is set)."""
    return value is not None and value != ""


@dataclass(frozen=True)
class Declaration:
    """What config resolution and the command line know about a source; the rest is the adapter's."""

    flags: tuple[Flag, ...] = ()
    """The flags that select it, in order of precedence (a bundled snapshot has none)."""
    config: str = "default"
    """The shipped config (``configs/<name>.yaml``) a run that names no config starts from ..."""
    config_by_interval: Mapping[str, str] = field(default_factory=dict)
    """... or, for these ``data.interval`` values, this one (weather: ``{"1d": "weather_daily"}``)."""
    names: tuple[tuple[str, ...], ...] = ()
    """The ways a config names one series, each a set of ``data`` fields that must all be set:
    ``(("symbol",), ("latitude", "longitude"))`` is a city name or coordinates. Overrides that name
    it one way clear the others from the config (a way counts as given when its first field is;
    latitude and longitude come together). Empty: nothing is checked here (the adapter checks)."""
    missing: str = ""
    """The one-line error, naming the fix, when a config (without a group) names it no way."""
    no_group: str | None = None
    """Why its series cannot form a group (``data.group``), as the one-line error; ``None``: they can."""

    def config_for(self, interval: str | None) -> str:
        """The name of the shipped config a run at ``interval`` starts from."""
        return self.config_by_interval.get(interval or "", self.config)

    def named_by(self, data: DataConfig) -> bool:
        """Whether ``data`` names one series of this source (all fields of one of :attr:`names`)."""
        if not self.names:
            return True
        return any(all(given(getattr(data, f)) for f in way) for way in self.names)

    def fields(self) -> tuple[str, ...]:
        """Every ``data`` field that names a series of this source, in declaration order."""
        return tuple(dict.fromkeys(f for way in self.names for f in way))


class Source(Protocol):
    """The protocol every adapter implements (see the module docstring)."""

    name: str
    title: str
    live: bool
    declaration: Declaration

    def resolve(self, cfg: DataConfig) -> Request: ...

    def covers(
        self, cached: cache.Cached, req: Request, cfg: DataConfig, *, need_end: bool
    ) -> bool: ...

    def fetch(self, req: Request, cfg: DataConfig, cached: cache.Cached | None) -> Fetched: ...

    def to_series(
        self, frame: pd.DataFrame, meta: dict, req: Request, cfg: DataConfig, *, origin: str
    ) -> Series: ...


# -- shared helpers ------------------------------------------------------------------------------------
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=~-]{0,199}")


def series_key(source: str, name: str, interval: str | None) -> str:
    """``<source>-<name>-<interval>`` (``<source>-<name>`` without an interval), checked to be one
    safe path component: it names a folder and a lock file under the data root."""
    key = "-".join(p for p in (source, name, interval) if p)
    if not _KEY.fullmatch(key):
        raise ConfigError(f"series key {key[:80]!r} is not a safe name — use a plain name")
    return key


def shorten(text: str, limit: int = 40) -> str:
    """User input echoed in a message, cut so the message stays one readable line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def first_line(exc: BaseException, limit: int = 100) -> str:
    """The first line of an exception's message (its type when it has none), cut to ``limit``."""
    text = str(exc).strip()
    return shorten(text.splitlines()[0] if text else type(exc).__name__, limit)


def clean_options(cfg: DataConfig) -> dict[str, Any]:
    """The validation settings a config carries (``max_gap``, ``fill``, ``duplicates``)."""
    return {"max_gap": cfg.max_gap, "fill": cfg.fill, "duplicates": cfg.duplicates}


def utc(value: dt.date | None) -> pd.Timestamp | None:
    """Midnight UTC of a date (``None`` stays ``None``)."""
    return None if value is None else pd.Timestamp(value).tz_localize("UTC")


def reaches_back(cached: cache.Cached, start: pd.Timestamp | None, *, whole: bool) -> bool:
    """Whether ``cached`` reaches back to ``start`` (``None``: no start asked for; ``whole``: then
    the source's whole history is wanted, which only a file that fetched it all holds)."""
    if not cached.knows_coverage:
        return False
    if cached.covers_from is None:
        return True
    if start is None:
        return not whole
    return start >= cached.covers_from


def resumable(cached: cache.Cached | None, wanted: pd.Timestamp | None) -> bool:
    """Whether a fetch may resume from the cache's last complete row (an incremental fetch):
    the file must reach back to ``wanted``, the oldest time the source is asked for."""
    return (
        cached is not None
        and cached.last_complete is not None
        and reaches_back(cached, wanted, whole=True)
    )


def new_rows(before: pd.DataFrame | None, after: pd.DataFrame) -> int:
    """Complete rows in ``after`` later than the last complete row of ``before``."""
    complete = after.notna().all(axis=1)
    last = cache.last_complete(before) if before is not None and len(before) else None
    if last is None:
        return int(complete.sum())
    return int((complete & (after.index > last)).sum())


def day(stamp: pd.Timestamp) -> str:
    return f"{stamp:%Y-%m-%d}"


def span_text(cfg: DataConfig) -> str:
    return f"{cfg.start or '…'}..{cfg.end or '…'}"


def slice_span(frame: pd.DataFrame, cfg: DataConfig, what: str) -> pd.DataFrame:
    """Rows of a raw frame with ``cfg.start <= time < cfg.end``, before validation (so a long gap
    outside the span does not matter); an empty result is a DataError naming the file's span."""
    tz = frame.index.tz
    mask = np.ones(len(frame), dtype=bool)
    if cfg.start:
        mask &= frame.index >= pd.Timestamp(cfg.start).tz_localize(tz)
    if cfg.end:
        mask &= frame.index < pd.Timestamp(cfg.end).tz_localize(tz)
    out = frame.loc[mask]
    if len(out) == 0 and len(frame):
        raise DataError(
            f"{what} has no rows in the requested span {span_text(cfg)} (it covers "
            f"{day(frame.index[0])}..{day(frame.index[-1])}) — adjust --start/--end"
        )
    return out


class Unusable(DataError):
    """A cache or snapshot that cannot serve this request (it lacks the target)."""


def narrow(req: Request, available, what: str) -> tuple[Request, list[str]]:
    """``req`` keeping only the columns ``what`` has, and the ones it lacks; the target must be there."""
    if req.target and req.target not in available:
        raise Unusable(f"{what} has no '{req.target}'")
    if not req.columns:
        return replace(req, columns=None), []
    keep = [c for c in req.columns if c in available]
    return replace(req, columns=keep), [c for c in req.columns if c not in available]


def with_note(series: Series, note: str) -> Series:
    return replace(series, notes=(*series.notes, note))


def lacking_text(lacking: list[str], what: str) -> str:
    """``"; without x, y (not in the cache)"`` for a note, or nothing."""
    return f"; without {', '.join(lacking)} (not in {what})" if lacking else ""


def stamp_text(stamp: pd.Timestamp, interval: str) -> str:
    """A stamp for a notice: with the time of day for sub-daily intervals (``15m``, ``1h``)."""
    sub_daily = re.fullmatch(r"\d+[mh]", interval) is not None
    return f"{stamp:%Y-%m-%d %H:%M}" if sub_daily else day(stamp)
