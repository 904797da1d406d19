"""The single entry point to data: a :class:`~forecaster.config.DataConfig` in, a validated Series out.

Order, for the live sources (``yahoo``, ``open-meteo``):

1. ``offline``: the cache, else the bundled snapshot (an INFO notice says which).
2. online: fetch what is new since the cache's last complete row (minus a small overlap; new rows
   win), write the cache, return the series (``Series.source`` = the live source). A cache that
   already covers an explicit ``start``..``end`` is used without asking the network.
3. source unreachable (``SourceUnavailable``): the cache, with a WARNING saying how old it is; else
   the bundled snapshot, with a WARNING naming it and its span; else ``SourceUnavailable`` saying
   what to do. A refused request (``SourceError``: unknown ticker, bad variable) is never masked.

``Series.source`` tells where the data came from: ``yahoo``/``open-meteo`` (fetched now),
``cache``, ``snapshot`` or ``csv``. ``cfg.start`` (inclusive) and ``cfg.end`` (exclusive) are
applied before validation, so a long gap outside the span does not matter. The target and any
explicit covariates are checked to exist (derived stock covariates such as ``log_return`` count).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.config import DataConfig
from forecaster.data import cache, features
from forecaster.data.series import Series
from forecaster.data.sources import http, local, openmeteo, snapshot, yahoo
from forecaster.errors import ConfigError, DataError, SourceUnavailable

log = logging.getLogger(__name__)

LIVE_SOURCES = ("yahoo", "open-meteo")
SOURCE_NAMES = {"yahoo": yahoo.NAME, "open-meteo": openmeteo.NAME}
_YAHOO_OVERLAP = {"1d": 7, "5d": 21, "1wk": 21, "1mo": 62, "3mo": 190}
"""Days re-requested before the last cached row (daily and longer Yahoo bars); intraday: 1 day."""
WEATHER_OVERLAP_DAYS = 7
"""Days re-requested before the last complete cached row (the archive revises its newest days)."""
READJUST_RTOL = 1e-5
"""Relative change of an already-cached close that means Yahoo re-adjusted history (split/dividend)."""


@dataclass(frozen=True)
class Request:
    """A resolved data request: which source, which thing (``name`` for files), which columns."""

    source: str
    name: str
    """File-safe name: ``AAPL``, ``greensboro``, ``35.07_-79.79``, a file stem, a snapshot name."""
    label: str
    """For messages: ``AAPL``, ``greensboro``, ``35.07,-79.79``, ``prices.csv``."""
    interval: str
    target: str | None
    columns: list[str] | None
    """Value columns to keep (and for open-meteo, to fetch); ``None`` = the source default."""
    place: openmeteo.Place | None = None

    @property
    def flag(self) -> str:
        """The command-line flags that name this series (for "what to do" messages)."""
        if self.source == "yahoo":
            return f"--ticker {self.label}"
        if self.place is not None and self.place.name in openmeteo.CITIES:
            return f"--city {self.place.name}"
        if self.place is not None:
            return f"--lat {self.place.latitude:g} --lon {self.place.longitude:g}"
        return self.label


@dataclass(frozen=True)
class Loaded:
    """A loaded series and where it came from (for ``forecast data show`` / ``fetch``)."""

    series: Series
    origin: str
    """``live`` (fetched now), ``cache``, ``snapshot`` or ``file``."""
    detail: str
    """One line for people: ``"fetched 5 new rows just now"``, ``"bundled snapshot AAPL ..."``."""
    cache_file: Path | None = None
    new_rows: int | None = None
    notice: str | None = None
    """The fallback notice that was logged, if any."""


# -- requests and keys ---------------------------------------------------------------------------------
def _request(cfg: DataConfig) -> Request:
    columns = list(cfg.variables) or None
    if cfg.source == "yahoo":
        if not cfg.symbol:
            raise ConfigError("no ticker given — pass --ticker SYMBOL or set data.symbol")
        symbol = cfg.symbol.strip().upper()
        yahoo.check_interval(cfg.interval)
        unknown = [c for c in [cfg.target, *(columns or [])] if c and c not in yahoo.COLUMNS]
        if unknown:
            raise ConfigError(
                f"Yahoo Finance series have columns {', '.join(yahoo.COLUMNS)}; {unknown} is not "
                "one of them (prices are already split- and dividend-adjusted: use close)"
            )
        return Request(
            "yahoo", cache.safe_name(symbol), symbol, cfg.interval, cfg.target or "close", columns
        )
    if cfg.source == "open-meteo":
        openmeteo.check_interval(cfg.interval)
        place = openmeteo.resolve_place(cfg.symbol, cfg.latitude, cfg.longitude)
        target = cfg.target or openmeteo.DEFAULT_TARGET[cfg.interval]
        fetch = columns or openmeteo.default_variables(cfg.interval)
        if target not in fetch:
            fetch = [target, *fetch]
        label = place.name if cfg.symbol else f"{place.latitude:g},{place.longitude:g}"
        return Request("open-meteo", place.name, label, cfg.interval, target, fetch, place)
    if cfg.source == "csv":
        if not cfg.path:
            raise ConfigError("no file given — pass --csv PATH or set data.path")
        path = Path(cfg.path)
        return Request(
            "csv", cache.safe_name(path.stem), path.name, cfg.interval, cfg.target, columns
        )
    if cfg.source == "snapshot":
        snap = _named_snapshot(cfg.symbol)
        return Request(
            "snapshot", snap.name, snap.name, snap.interval, cfg.target or snap.target, columns
        )
    raise ConfigError(
        f"unknown data source '{cfg.source}' — use yahoo, open-meteo, csv or snapshot"
    )


def _named_snapshot(name: str | None) -> snapshot.Snapshot:
    for snap in snapshot.SNAPSHOTS:
        if name and snap.name.lower() == name.lower():
            return snap
    names = ", ".join(s.name for s in snapshot.SNAPSHOTS)
    raise ConfigError(f"no bundled snapshot named '{name}' — available: {names}")


def series_key(cfg: DataConfig) -> str:
    """A stable id for the series a config names, used by the model registry.

    ``yahoo-AAPL-1d``, ``open-meteo-greensboro-1h``, ``open-meteo-35.07_-79.79-1h``,
    ``csv-<file stem>``, ``snapshot-<name>-<interval>``.
    """
    req = _request(cfg)
    if req.source == "csv":
        return f"csv-{req.name}"
    return f"{req.source}-{req.name}-{req.interval}"


def cache_file(cfg: DataConfig) -> Path | None:
    """The cache file for a live source's series (it may not exist yet); ``None`` for csv/snapshot."""
    req = _request(cfg)
    if req.source not in LIVE_SOURCES:
        return None
    return cache.cache_path(req.source, req.name, req.interval)


# -- public entry points -------------------------------------------------------------------------------
def load_series(cfg: DataConfig, *, refresh: bool = True) -> Series:
    """The validated series ``cfg`` describes: live source + cache, cache, or bundled snapshot.

    ``refresh=False`` uses the cache as it is when it covers the request (no network).
    Raises ``SourceError`` for a refused request, ``SourceUnavailable`` when neither the source nor
    any cached or bundled data can serve it, ``DataError`` for unusable data.
    """
    return load(cfg, refresh=refresh).series


def load(cfg: DataConfig, *, refresh: bool = True, fallback: bool = True) -> Loaded:
    """Like :func:`load_series`, also saying where the data came from (:class:`Loaded`).

    ``fallback=False`` raises ``SourceUnavailable`` instead of using the cache or a snapshot.
    """
    req = _request(cfg)
    if req.source == "csv":
        path = Path(cfg.path).expanduser()
        frame = local.read_frame(
            path, time_column=cfg.time_column, variables=req.columns, target=req.target
        )
        series = local.to_series(
            _slice(frame, cfg, f"file {req.label}"),
            path.stem,
            target=req.target,
            columns=req.columns,
            timezone=cfg.timezone,
            max_gap=cfg.max_gap,
        )
        return Loaded(_checked(series, cfg), "file", f"local file {path}")
    if req.source == "snapshot":
        series, span = _snapshot_series(cfg, req, _named_snapshot(cfg.symbol))
        return Loaded(series, "snapshot", f"bundled snapshot {req.name} {span}")
    return _load_live(cfg, req, refresh=refresh, fallback=fallback, force=False)


def fetch(cfg: DataConfig) -> Loaded:
    """Fetch from the live source now and update the cache (``forecast data fetch``).

    Never falls back: when the source is unreachable, the ``SourceUnavailable`` message says what
    an offline run would use instead.
    """
    req = _request(cfg)
    if req.source not in LIVE_SOURCES:
        raise ConfigError(
            f"nothing to fetch for source '{req.source}' — it is read directly; "
            "use `forecast data show` to look at it"
        )
    if cfg.offline:
        raise ConfigError("fetching needs the network — drop --offline")
    try:
        return _load_live(cfg, req, refresh=True, fallback=False, force=True)
    except http.Unreachable as exc:
        path = cache.cache_path(req.source, req.name, req.interval)
        instead = _offline_description(cfg, req, cache.read(path, on_corrupt="ignoring it"))
        raise SourceUnavailable(
            f"{exc.what} unreachable ({exc.reason}) after {exc.tries} tries — nothing fetched; "
            f"{instead}"
        ) from None


# -- live sources -------------------------------------------------------------------------------------
def _load_live(
    cfg: DataConfig, req: Request, *, refresh: bool, fallback: bool, force: bool
) -> Loaded:
    path = cache.cache_path(req.source, req.name, req.interval)
    what = SOURCE_NAMES[req.source]
    if cfg.offline:
        cached = cache.read(path, on_corrupt="ignoring it (offline)")
        return _fallback(cfg, req, cached, reason=None)
    cached = cache.read(path, on_corrupt="refetching")
    usable = cached if cached is not None and _compatible(cached, req, cfg) else None
    if usable is not None and not force and _covers(usable, req, cfg, need_end=refresh):
        try:
            series = _cache_series(usable, cfg, req)
        except _Unusable:
            pass  # the cache lacks a column: fetch
        else:
            return Loaded(series, "cache", f"cache fetched {usable.age()}", path, 0)
    try:
        frame, meta, new_rows = _fetch_merge(cfg, req, usable)
    except SourceUnavailable as exc:
        if not fallback:
            raise
        reason = exc.reason if isinstance(exc, http.Unreachable) else str(exc)
        return _fallback(cfg, req, cached, reason=f"{what} unreachable ({reason})")
    try:
        cache.write(path, frame, meta)
        written: Path | None = path
    except OSError as exc:
        log.warning("could not write the cache file %s (%s); continuing without caching", path, exc)
        written = None
    log.debug("%s %s: %d new rows from %s; cache %s", req.label, req.interval, new_rows, what, path)
    series = _to_series(frame, meta, cfg, req, source=req.source)
    plural = "row" if new_rows == 1 else "rows"
    return Loaded(series, "live", f"fetched {new_rows} new {plural} just now", written, new_rows)


def _compatible(cached: cache.Cached, req: Request, cfg: DataConfig) -> bool:
    """Whether new rows for ``req`` can be merged into ``cached`` (same kind of data)."""
    meta = cached.meta
    if meta.get("source") != req.source or meta.get("interval") != req.interval:
        return False
    if req.source == "open-meteo":
        if meta.get("requested_tz") != _requested_tz(cfg, req):
            return False
        return set(req.columns or ()) <= set(cached.frame.columns)
    return set(yahoo.COLUMNS) <= set(cached.frame.columns)


def _requested_tz(cfg: DataConfig, req: Request) -> str:
    return cfg.timezone or (req.place.tz if req.place else None) or "auto"


def _wanted_start(cfg: DataConfig, req: Request) -> pd.Timestamp | None:
    """The oldest time the request needs from the source (``None``: its whole history)."""
    if req.source == "yahoo":
        if not yahoo.is_intraday(req.interval):
            return None
        start = yahoo.request_window(req.interval, _utc(cfg.start), _utc(cfg.end))[0]
        return start
    start_date, _ = openmeteo.default_span(req.interval, cfg.start, cfg.end)
    return _utc(start_date)


def _utc(value: dt.date | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value).tz_localize("UTC")


def _covers(cached: cache.Cached, req: Request, cfg: DataConfig, *, need_end: bool) -> bool:
    """Whether the cache already holds the requested span (so the network is not needed)."""
    covers_from = cached.meta.get("covers_from", "missing")
    if covers_from == "missing":
        return False
    wanted = cfg.start and _utc(cfg.start)
    if covers_from is not None:
        if wanted is None and req.source == "yahoo" and not yahoo.is_intraday(req.interval):
            return False  # the whole history was asked for, the cache holds part of it
        if wanted is not None and wanted < pd.Timestamp(covers_from):
            return False
    if not need_end:
        return True
    last = cached.last_complete
    if cfg.end is None or last is None:
        return False
    end = pd.Timestamp(cfg.end)
    if req.source == "yahoo":  # the last session before the end (a holiday only costs a fetch)
        return last.tz_localize(None).normalize() >= end - pd.offsets.BDay(1)
    step = pd.Timedelta(hours=1) if req.interval == "1h" else pd.Timedelta(days=1)
    return last >= end.tz_localize(last.tz) - step


def _fetch_merge(
    cfg: DataConfig, req: Request, cached: cache.Cached | None
) -> tuple[pd.DataFrame, dict, int]:
    """Fetch new rows, merge them into ``cached`` (a compatible cache or None); return the frame
    to cache, its metadata and how many new complete rows arrived.

    Incremental when the cache already reaches back far enough: only rows from its last complete
    stamp minus an overlap are requested. Otherwise the requested span is fetched, extended to
    meet the cache so the cached span stays contiguous, and merged.
    """
    wanted = _wanted_start(cfg, req)
    covers_from = cached.meta.get("covers_from", "missing") if cached is not None else "missing"
    incremental = (
        cached is not None
        and cached.last_complete is not None
        and covers_from != "missing"
        and (covers_from is None or (wanted is not None and wanted >= pd.Timestamp(covers_from)))
    )
    if req.source == "yahoo":
        return _fetch_yahoo(cfg, req, cached, wanted, incremental=incremental)
    return _fetch_weather(cfg, req, cached, incremental=incremental)


def _fetch_yahoo(
    cfg: DataConfig,
    req: Request,
    cached: cache.Cached | None,
    wanted: pd.Timestamp | None,
    *,
    incremental: bool,
) -> tuple[pd.DataFrame, dict, int]:
    end = _utc(cfg.end)
    meta = {"source": "yahoo", "symbol": req.label, "interval": req.interval}
    if cached is not None and incremental:
        resume = cached.last_complete - pd.Timedelta(days=_YAHOO_OVERLAP.get(req.interval, 1))
        new = cached.frame.iloc[:0]
        # yahoo.NoData here means nothing since the last fetch (a weekend, a holiday)
        with contextlib.suppress(yahoo.NoData):
            if end is None or end > resume:
                new = yahoo.fetch_frame(req.label, req.interval, start=resume, end=end)
        if not _readjusted(cached.frame, new):
            merged = cache.merge(cached.frame, new)
            meta.update(
                covers_from=cached.meta.get("covers_from"),
                currency=new.attrs.get("currency") or cached.meta.get("currency", "USD"),
                exchange_tz=new.attrs.get("exchange_tz") or cached.meta.get("exchange_tz"),
            )
            return merged, meta, _new_rows(cached.frame, merged)
        log.info(
            "%s: Yahoo Finance re-adjusted past prices (a split or dividend) since the last fetch; "
            "refetching the whole history",
            req.label,
        )
        # every cached price is stale: replace the cache, do not merge into it
        frame = yahoo.fetch_frame(req.label, req.interval, start=wanted, end=None)
        merged = frame
    else:
        # with a cache, fetch up to now so the new span meets the cached one
        frame = yahoo.fetch_frame(
            req.label, req.interval, start=wanted, end=None if cached is not None else end
        )
        merged = cache.merge(cached.frame, frame) if cached is not None else frame
    meta.update(
        covers_from=None if wanted is None else wanted.isoformat(),
        currency=frame.attrs.get("currency", "USD"),
        exchange_tz=frame.attrs.get("exchange_tz"),
    )
    return merged, meta, _new_rows(cached.frame if cached is not None else None, merged)


def _readjusted(old: pd.DataFrame, new: pd.DataFrame) -> bool:
    """True when closes Yahoo sent again differ from the cached ones (ignoring the newest cached
    row, which may have been a partial session)."""
    if len(new) == 0 or len(old) < 2:
        return False
    common = old.index[:-1].intersection(new.index)
    if len(common) == 0:
        return False
    a = old.loc[common, "close"].to_numpy(dtype=np.float64)
    b = new.loc[common, "close"].to_numpy(dtype=np.float64)
    return not np.allclose(a, b, rtol=READJUST_RTOL, atol=0.0, equal_nan=True)


def _fetch_weather(
    cfg: DataConfig, req: Request, cached: cache.Cached | None, *, incremental: bool
) -> tuple[pd.DataFrame, dict, int]:
    assert req.place is not None and req.columns is not None
    start_date, end_date = openmeteo.default_span(req.interval, cfg.start, cfg.end)
    tz = _requested_tz(cfg, req)
    meta = {
        "source": "open-meteo",
        "symbol": req.name,
        "interval": req.interval,
        "requested_tz": tz,
        "latitude": req.place.latitude,
        "longitude": req.place.longitude,
    }
    variables = list(req.columns)
    covers_from = _utc(start_date).isoformat()
    if cached is not None:
        # every cached column, so the new rows are complete (and the next resume point advances)
        variables = list(dict.fromkeys([*variables, *cached.frame.columns]))
        if incremental:
            start_date = (cached.last_complete - pd.Timedelta(days=WEATHER_OVERLAP_DAYS)).date()
            covers_from = cached.meta.get("covers_from")
        else:  # an older start than cached: fetch up to where the cache begins (one span)
            end_date = max(end_date, cached.frame.index[0].date())
    new = None
    if start_date <= end_date:
        new = openmeteo.fetch_frame(
            req.place,
            req.interval,
            variables,
            start_date=start_date,
            end_date=end_date,
            timezone=tz,
        )
    units = dict(cached.meta.get("units", {})) if cached is not None else {}
    if new is not None:
        units.update(new.attrs.get("units", {}))
        meta["timezone"] = new.attrs.get("timezone")
    elif cached is not None:
        meta["timezone"] = cached.meta.get("timezone")
    meta.update(covers_from=covers_from, units=units)
    if cached is None:
        assert new is not None  # default_span never returns an empty span
        return new, meta, _new_rows(None, new)
    merged = cache.merge(cached.frame, new) if new is not None else cached.frame
    return merged, meta, _new_rows(cached.frame, merged)


def _new_rows(before: pd.DataFrame | None, after: pd.DataFrame) -> int:
    """Complete rows in ``after`` later than the last complete row of ``before``."""
    complete = after.notna().all(axis=1)
    last = cache.last_complete(before) if before is not None and len(before) else None
    if last is None:
        return int(complete.sum())
    return int((complete & (after.index > last)).sum())


# -- turning frames into series ----------------------------------------------------------------------
def _slice(frame: pd.DataFrame, cfg: DataConfig, what: str) -> pd.DataFrame:
    tz = frame.index.tz
    mask = np.ones(len(frame), dtype=bool)
    if cfg.start:
        mask &= frame.index >= pd.Timestamp(cfg.start).tz_localize(tz)
    if cfg.end:
        mask &= frame.index < pd.Timestamp(cfg.end).tz_localize(tz)
    out = frame.loc[mask]
    if len(out) == 0 and len(frame):
        raise DataError(
            f"{what} has no rows in the requested span {_span_text(cfg)} (it covers "
            f"{_day(frame.index[0])}..{_day(frame.index[-1])}) — adjust --start/--end"
        )
    return out


def _between(series: Series, cfg: DataConfig, what: str) -> Series:
    if not (cfg.start or cfg.end):
        return series
    out = series.between(cfg.start, cfg.end)
    if len(out) < 3:
        raise DataError(
            f"{what} covers {_day(series.start)}..{_day(series.end)}; the requested span "
            f"{_span_text(cfg)} leaves {len(out)} rows — adjust --start/--end"
        )
    return out


def _span_text(cfg: DataConfig) -> str:
    return f"{cfg.start or '…'}..{cfg.end or '…'}"


def _day(stamp: pd.Timestamp) -> str:
    return f"{stamp:%Y-%m-%d}"


def _stamp_text(stamp: pd.Timestamp, interval: str) -> str:
    intraday = interval in yahoo.INTRADAY_FREQ
    return f"{stamp:%Y-%m-%d %H:%M}" if intraday else _day(stamp)


def _to_series(
    frame: pd.DataFrame, meta: dict, cfg: DataConfig, req: Request, *, source: str
) -> Series:
    frame = _slice(frame, cfg, f"{req.label} data")
    if req.source == "yahoo":
        series = yahoo.to_series(
            frame,
            req.label,
            req.interval,
            target=req.target or "close",
            columns=req.columns,
            max_gap=cfg.max_gap,
            source=source,
            currency=str(meta.get("currency") or "USD"),
        )
    else:
        series = openmeteo.to_series(
            frame,
            req.name,
            req.interval,
            target=req.target,
            columns=req.columns,
            max_gap=cfg.max_gap,
            source=source,
            units=meta.get("units") or {},
        )
    return _checked(series, cfg)


def _checked(series: Series, cfg: DataConfig) -> Series:
    """Check that explicit covariates exist (as columns or derivable from them)."""
    for name in cfg.covariates or ():
        if name != series.target:
            features.raw_covariate(series, name)
    return series


def _with_note(series: Series, note: str) -> Series:
    return dataclasses.replace(series, notes=(*series.notes, note))


def _keep_columns(available, req: Request, what: str) -> tuple[list[str] | None, list[str]]:
    """Requested columns that ``what`` has, and those it lacks; the target must be there."""
    if req.target and req.target not in available:
        raise _Unusable(f"{what} has no '{req.target}'")
    if not req.columns:
        return None, []
    keep = [c for c in req.columns if c in available]
    return keep, [c for c in req.columns if c not in available]


class _Unusable(DataError):
    """A cache or snapshot that cannot serve this request (it lacks the target)."""


def _cache_series(cached: cache.Cached, cfg: DataConfig, req: Request) -> Series:
    keep, lacking = _keep_columns(cached.frame.columns, req, "the cache")
    narrowed = dataclasses.replace(req, columns=keep)
    series = _to_series(cached.frame, cached.meta, cfg, narrowed, source="cache")
    fetched = cached.fetched_at
    when = f"{fetched:%Y-%m-%d %H:%M} UTC" if fetched is not None else "at an unknown time"
    note = f"cached data fetched {when} ({cached.age()})"
    if lacking:
        note += f"; without {', '.join(lacking)} (not in the cache)"
    return _with_note(series, note)


def _snapshot_series(cfg: DataConfig, req: Request, snap: snapshot.Snapshot) -> tuple[Series, str]:
    """The snapshot as a series for ``req`` (columns narrowed to what it has) and its full span."""
    raw_columns = list(snapshot.raw_frame(snap).columns)
    keep, lacking = _keep_columns(raw_columns, req, f"the bundled snapshot {snap.name}")
    full = snapshot.load(snap, target=req.target, columns=keep, max_gap=cfg.max_gap)
    span = f"{_day(full.start)}..{_day(full.end)}"
    series = _checked(_between(full, cfg, f"the bundled snapshot {snap.name}"), cfg)
    note = f"bundled snapshot {snap.name} ({span}), not live data"
    if lacking:
        note += f"; without {', '.join(lacking)} (not in the snapshot)"
    return _with_note(series, note), span


def _fallback(
    cfg: DataConfig, req: Request, cached: cache.Cached | None, *, reason: str | None
) -> Loaded:
    """Serve from the cache, else the snapshot, with a notice; ``reason=None`` means --offline."""
    level = logging.INFO if reason is None else logging.WARNING
    prefix = "offline:" if reason is None else f"{reason};"
    problems: list[str] = []
    if cached is not None:
        try:
            series = _cache_series(cached, cfg, req)
        except _Unusable as exc:
            problems.append(str(exc))
        else:
            up_to = _stamp_text(cached.last_complete or cached.frame.index[-1], req.interval)
            notice = f"{prefix} using cached {req.label} data up to {up_to}, fetched {cached.age()}"
            log.log(level, "%s", notice)
            return Loaded(series, "cache", f"cache fetched {cached.age()}", cached.path, 0, notice)
    snap = snapshot.find(req.source, req.name, req.interval)
    if snap is not None:
        try:
            series, span = _snapshot_series(cfg, req, snap)
        except _Unusable as exc:
            problems.append(str(exc))
        else:
            none_cached = f"no cached {req.label} data; " if cached is None else ""
            notice = f"{prefix} {none_cached}using the bundled snapshot {snap.name} {span}"
            log.log(level, "%s", notice)
            return Loaded(series, "snapshot", f"bundled snapshot {snap.name} {span}", notice=notice)
    why = f" ({'; '.join(problems)})" if problems else ""
    if reason is None:
        raise SourceUnavailable(
            f"offline, and no usable cached or bundled {req.label} {req.interval} data{why} — run "
            f"`forecast data fetch {req.flag}` while online, or use --csv FILE"
        )
    raise SourceUnavailable(
        f"{reason}, and no usable cached or bundled {req.label} {req.interval} data{why} — check "
        "the network connection and retry, or use --csv FILE"
    )


def _offline_description(cfg: DataConfig, req: Request, cached: cache.Cached | None) -> str:
    """What an offline run would use for ``req``, in words (for ``forecast data fetch``)."""
    if cached is not None:
        up_to = _stamp_text(cached.last_complete or cached.frame.index[-1], req.interval)
        return (
            f"offline runs use the cached {req.label} data up to {up_to} (fetched {cached.age()})"
        )
    snap = snapshot.find(req.source, req.name, req.interval)
    if snap is not None:
        s, e = snapshot.span(snap)
        return f"offline runs use the bundled snapshot {snap.name} {_day(s)}..{_day(e)}"
    return f"no cached or bundled {req.label} {req.interval} data exists — retry when online"
