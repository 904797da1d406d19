"""The single entry point to data: a :class:`~forecaster.config.DataConfig` in, a validated Series out.

request -> cache -> fetch + merge -> write -> fallback, the same for every source; what differs is
behind :class:`~forecaster.data.sources.base.Source`. For a live source (network):

1. ``offline``: the cache, else the bundled snapshot (an INFO notice says which).
2. online: a cache that covers the request (the source says so) is used as it is; else the source
   fetches what is new and merges it into the cache, which is written; ``Series.source`` = the source.
3. source unreachable (``SourceUnavailable``): the cache, with a WARNING saying how old it is; else
   the bundled snapshot, with a WARNING naming it and its span; else ``SourceUnavailable`` saying
   what to do. A refused request (``SourceError``: unknown ticker, bad variable) is never masked.

A cache file is used only when it holds the request's identity (symbol, interval, coordinates), and
merged into only when fetched with the same settings. Other sources (local files, bundled
snapshots) are read directly. Explicit covariates are checked to exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from forecaster.config import DataConfig
from forecaster.data import cache
from forecaster.data import sources as registry
from forecaster.data.features import check_covariates
from forecaster.data.series import Series
from forecaster.data.sources import http, snapshot
from forecaster.data.sources.base import (
    Request,
    Source,
    Unusable,
    lacking_text,
    narrow,
    stamp_text,
    with_note,
)
from forecaster.errors import ConfigError, SourceUnavailable

log = logging.getLogger(__name__)


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


def resolve(cfg: DataConfig) -> tuple[Source, Request]:
    """The source ``cfg`` names and its resolved request (one-line ConfigError when invalid)."""
    if cfg.group is not None:  # a group's members are resolved one by one (data.group)
        raise ConfigError(
            f"{','.join(cfg.group.symbols)} is a group of {len(cfg.group.symbols)} series and this "
            f"reads one series — name one (e.g. {cfg.group.symbols[0]})"
        )
    src = registry.get(cfg.source)
    return src, src.resolve(cfg)


def series_key(cfg: DataConfig) -> str:
    """A stable id for the series a config names, used by the model registry: one safe path
    component (``yahoo-AAPL-1d``, ``open-meteo-greensboro-1h``, ``open-meteo-35.07_-79.79-1h``,
    ``csv-<file stem>~<path hash>``, ``snapshot-<name>-<interval>``; names made safe carry a
    short hash, ``yahoo-_GSPC~df302d10-1d``, so two symbols never share a key). A group's key:
    :func:`forecaster.data.group.store_key`."""
    return resolve(cfg)[1].key


def cache_file(cfg: DataConfig) -> Path | None:
    """The cache file for a live source's series (it may not exist yet); ``None`` for csv/snapshot."""
    src, req = resolve(cfg)
    return req.cache_path if src.live else None


def load_series(cfg: DataConfig, *, refresh: bool = True) -> Series:
    """The validated series ``cfg`` describes: live source + cache, cache, or bundled snapshot;
    ``refresh=False`` uses a cache that covers the request as it is (no network). Raises
    ``SourceError`` for a refused request, ``SourceUnavailable`` when neither the source nor any
    cached or bundled data can serve it, ``DataError`` for unusable data."""
    return load(cfg, refresh=refresh).series


def load(cfg: DataConfig, *, refresh: bool = True, fallback: bool = True) -> Loaded:
    """Like :func:`load_series`, also saying where the data came from (:class:`Loaded`);
    ``fallback=False`` raises ``SourceUnavailable`` instead of using the cache or a snapshot."""
    src, req = resolve(cfg)
    if not src.live:
        got = src.fetch(req, cfg, None)
        series = src.to_series(got.frame, got.meta, req, cfg, origin=req.source)
        return Loaded(check_covariates(series, cfg.covariates), got.origin, got.detail)
    return _load_live(cfg, src, req, refresh=refresh, fallback=fallback, force=False)


def fetch(cfg: DataConfig) -> Loaded:
    """Fetch from the live source now and update the cache (``forecast data fetch``). Never falls
    back: when the source is unreachable, the error says what an offline run would use instead."""
    src, req = resolve(cfg)
    if not src.live:
        raise ConfigError(
            f"nothing to fetch for source '{req.source}' — it is read directly; "
            "use `forecast data show` to look at it"
        )
    if cfg.offline:
        raise ConfigError("fetching needs the network — drop --offline")
    try:
        return _load_live(cfg, src, req, refresh=True, fallback=False, force=True)
    except http.Unreachable as exc:
        cached = _read_cache(req, on_corrupt="ignoring it")
        raise SourceUnavailable(
            f"{exc.what} unreachable ({exc.reason}) after {exc.tries} tries — nothing fetched; "
            f"{_offline_description(req, cached)}"
        ) from None


def _load_live(
    cfg: DataConfig, src: Source, req: Request, *, refresh: bool, fallback: bool, force: bool
) -> Loaded:
    if cfg.offline:
        cached = _read_cache(req, on_corrupt="ignoring it (offline)")
        return _fallback(cfg, src, req, cached, reason=None)
    cached = _read_cache(req, on_corrupt="refetching")
    usable = cached if cached is not None and req.mergeable(cached) else None
    if usable is not None and not force and src.covers(usable, req, cfg, need_end=refresh):
        try:
            series = _cache_series(src, usable, cfg, req)
        except Unusable:
            pass  # the cache lacks a column: fetch
        else:
            return Loaded(series, "cache", f"cache fetched {usable.age()}", usable.path, 0)
    try:
        got = src.fetch(req, cfg, usable)
    except SourceUnavailable as exc:
        if not fallback:
            raise
        reason = exc.reason if isinstance(exc, http.Unreachable) else str(exc)
        return _fallback(cfg, src, req, cached, reason=f"{src.title} unreachable ({reason})")
    meta = {**got.meta, **req.identity, **req.settings}
    written = cache.write_or_warn(req.cache_path, got.frame, meta)
    log.debug("%s %s: %d new rows; cache %s", req.label, req.interval, got.new_rows, written)
    series = src.to_series(got.frame, meta, req, cfg, origin=req.source)
    detail = f"fetched {got.new_rows} new {'row' if got.new_rows == 1 else 'rows'} just now"
    return Loaded(check_covariates(series, cfg.covariates), "live", detail, written, got.new_rows)


def _read_cache(req: Request, *, on_corrupt: str) -> cache.Cached | None:
    return cache.read(req.cache_path, on_corrupt=on_corrupt, identity=req.identity)


def _cache_series(src: Source, cached: cache.Cached, cfg: DataConfig, req: Request) -> Series:
    narrowed, lacking = narrow(req, cached.frame.columns, "the cache")
    series = src.to_series(cached.frame, cached.meta, narrowed, cfg, origin="cache")
    note = f"cached data fetched {cached.when()} ({cached.age()})"
    return with_note(
        check_covariates(series, cfg.covariates), note + lacking_text(lacking, "the cache")
    )


def _fallback(
    cfg: DataConfig, src: Source, req: Request, cached: cache.Cached | None, *, reason: str | None
) -> Loaded:
    """Serve from the cache, else the snapshot, with a notice; ``reason=None`` means --offline."""
    level = logging.INFO if reason is None else logging.WARNING
    prefix = "offline:" if reason is None else f"{reason};"
    problems: list[str] = []
    if cached is not None:
        try:
            series = _cache_series(src, cached, cfg, req)
        except Unusable as exc:
            problems.append(str(exc))
        else:
            notice = f"{prefix} using {_cached_words(req, cached)}, fetched {cached.age()}"
            log.log(level, "%s", notice)
            return Loaded(series, "cache", f"cache fetched {cached.age()}", cached.path, 0, notice)
    snap = snapshot.find(req.source, req.name, req.interval)
    if snap is not None:
        try:
            series = check_covariates(snapshot.stand_in(snap, req, cfg), cfg.covariates)
        except Unusable as exc:
            problems.append(str(exc))
        else:
            span = snapshot.span_text(snap)
            none_cached = f"no cached {req.label} data; " if cached is None else ""
            notice = f"{prefix} {none_cached}using the bundled snapshot {snap.name} {span}"
            log.log(level, "%s", notice)
            return Loaded(series, "snapshot", f"bundled snapshot {snap.name} {span}", notice=notice)
    why = f" ({'; '.join(problems)})" if problems else ""
    what = f"no usable cached or bundled {req.label} {req.interval} data{why}"
    fix = "check the network connection and retry"
    if reason is None:
        fix = f"run `forecast data fetch {req.flag}` while online"
    raise SourceUnavailable(f"{reason or 'offline'}, and {what} — {fix}, or use --csv FILE")


def _cached_words(req: Request, cached: cache.Cached) -> str:
    return f"cached {req.label} data up to {stamp_text(cached.last_stamp, req.interval)}"


def _offline_description(req: Request, cached: cache.Cached | None) -> str:
    """What an offline run would use for ``req``, in words (for ``forecast data fetch``)."""
    if cached is not None:
        return f"offline runs use the {_cached_words(req, cached)} (fetched {cached.age()})"
    snap = snapshot.find(req.source, req.name, req.interval)
    if snap is not None:
        return f"offline runs use the bundled snapshot {snap.name} {snapshot.span_text(snap)}"
    return f"no cached or bundled {req.label} {req.interval} data exists — retry when online"
