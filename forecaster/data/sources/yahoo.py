"""Stock prices from Yahoo Finance (through yfinance): daily and intraday OHLCV bars.

:func:`fetch_frame` returns the canonical raw frame, before validation:

* columns ``open high low close volume`` (float64). Prices are split- AND dividend-adjusted
  (yfinance ``auto_adjust=True``: OHLC scaled by Adj Close / Close, in the listing's currency,
  usually USD); volume in shares as published.
* index: daily and longer bars (``1d 5d 1wk 1mo 3mo``) at midnight America/New_York of the bar's
  date (its date on the exchange); intraday bars (``1m`` .. ``90m``, ``1h``) at the bar's start in
  the exchange's time zone. Missing values stay NaN for :func:`forecaster.data.series.validate`.

:func:`to_series` validates it: daily bars are trading sessions (freq ``"B"``; holidays absent),
intraday bars cover trading hours only (``sessions=True``: nights and weekends are absent, not gaps).

Each ticker knows its exchange calendar (:func:`~.tickers.calendar_for`, from the ticker's form:
no suffix is a US listing, XNYS; ``.L`` London, ``.DE`` Xetra, ...): daily bars are then validated
against its sessions and forecasts are stamped at real sessions. Currencies, futures, crypto pairs
and unknown suffixes have none (weekdays, as before); ``data.calendar`` overrides the choice.

Yahoo keeps intraday bars for a limited time (``1m``: 30 days, at most 7 per request; ``2m`` ..
``90m``: 60 days; ``60m``/``1h``: 730 days); older starts are clamped with a notice, an end older
than that is an error. Failures: an unknown or delisted ticker raises :class:`NoData` (a
``SourceError``); network errors, timeouts and rate limits are retried (:mod:`.http`) and then raise
``SourceUnavailable``. yfinance's own logging and warnings never reach the terminal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from forecaster.config import DataConfig
from forecaster.data import cache
from forecaster.data.series import TRADING_DAYS, Series, target_first, validate
from forecaster.data.sources import base, http, yfinance_call
from forecaster.data.sources.tickers import INDEX_CALENDARS as INDEX_CALENDARS
from forecaster.data.sources.tickers import SUFFIX_CALENDARS as SUFFIX_CALENDARS
from forecaster.data.sources.tickers import calendar_for, check_symbol
from forecaster.data.sources.yfinance_call import NoData
from forecaster.errors import ConfigError, SourceError

log = logging.getLogger(__name__)

NAME = "Yahoo Finance"
COLUMNS = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
DAILY_TZ = "America/New_York"
INTERVALS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo", "3mo")
INTRADAY_FREQ = {
    "1m": "min",
    "2m": "2min",
    "5m": "5min",
    "15m": "15min",
    "30m": "30min",
    "60m": "h",
    "90m": "90min",
    "1h": "h",
}
"""Pandas alias of each intraday bar length."""
LONG_FREQ = {"5d": "5D", "1wk": "7D", "1mo": "MS", "3mo": "3MS"}
LOOKBACK_DAYS = {
    "1m": 30,
    "2m": 60,
    "5m": 60,
    "15m": 60,
    "30m": 60,
    "90m": 60,
    "60m": 730,
    "1h": 730,
}
"""How far back Yahoo serves each intraday interval, in days."""
REQUEST_DAYS = {"1m": 7}
"""Longest span Yahoo serves in one request, in days (1-minute bars)."""
OVERLAP_DAYS = {"1d": 7, "5d": 21, "1wk": 21, "1mo": 62, "3mo": 190}
"""Days re-requested before the last cached row (daily and longer bars); intraday: 1 day."""
READJUST_RTOL = 1e-5
"""Relative change of an already-cached close that means Yahoo re-adjusted history (split/dividend)."""


def check_interval(interval: str) -> str:
    """Return ``interval`` if yfinance supports it, else raise a one-line ConfigError."""
    if interval not in INTERVALS:
        raise ConfigError(
            f"Yahoo Finance has no interval '{interval}' — use one of: {' '.join(INTERVALS)}"
        )
    return interval


def is_intraday(interval: str) -> bool:
    return interval in INTRADAY_FREQ


# -- request span ------------------------------------------------------------------------------------
def request_window(
    interval: str,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    now: pd.Timestamp | None = None,
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The span to ask Yahoo for: ``start``/``end`` (tz-aware, ``end`` exclusive) within its limits.

    Daily and longer bars: as given (``None`` start = the whole history). Intraday: a start older
    than Yahoo keeps (or ``None``) becomes the oldest it serves, with an INFO notice when the user's
    start was clamped; an ``end`` older than that raises :class:`NoData`.
    """
    if not is_intraday(interval):
        return start, end
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    days = LOOKBACK_DAYS[interval]
    # a few hours inside the limit, so the request is not rejected for being a second too old
    earliest = now - pd.Timedelta(days=days) + pd.Timedelta(hours=6)
    if interval in REQUEST_DAYS:
        earliest = max(earliest, (end or now) - pd.Timedelta(days=REQUEST_DAYS[interval]))
    if end is not None and end <= earliest:
        raise NoData(
            f"Yahoo Finance keeps {interval} bars for the last {days} days only; the requested end "
            f"{end:%Y-%m-%d} is older — use --interval 1d for older data"
        )
    if start is None or start < earliest:
        # say so only when a real start was moved (not for a few seconds of clock difference)
        if start is not None and earliest - start > pd.Timedelta(hours=1):
            log.info(
                "Yahoo Finance serves %s bars for the last %d days only%s; fetching from %s",
                interval,
                days,
                f" ({REQUEST_DAYS[interval]} per request)" if interval in REQUEST_DAYS else "",
                f"{earliest.tz_convert('UTC'):%Y-%m-%d %H:%M} UTC",
            )
        start = earliest
    return start, end


def fetch_frame(
    symbol: str,
    interval: str = "1d",
    *,
    start: pd.Timestamp | dt.date | None = None,
    end: pd.Timestamp | dt.date | None = None,
    sleep_fn: Callable[[float], None] | None = None,
) -> pd.DataFrame:
    """Fetch bars for ``symbol`` in the canonical raw layout (see the module docstring).

    ``start`` (inclusive) and ``end`` (exclusive): dates or tz-aware stamps; ``None`` start = the
    whole history (daily) or the oldest intraday bars Yahoo serves. ``frame.attrs`` holds
    ``currency`` and ``exchange_tz`` when Yahoo reports them.
    """
    check_interval(interval)
    s, e = _as_utc(start), _as_utc(end)
    s, e = request_window(interval, s, e)

    def attempt(timeout: float):
        return yfinance_call.history(
            symbol, interval, s, e, timeout, daily=not is_intraday(interval)
        )

    raw, meta = http.retry(attempt, what=NAME, sleep_fn=sleep_fn)
    exchange_tz = meta.get("exchangeTimezoneName") or None
    frame = to_canonical(raw, symbol, interval, exchange_tz=exchange_tz)
    frame.attrs["currency"] = str(meta.get("currency") or "USD")
    if exchange_tz:
        frame.attrs["exchange_tz"] = str(exchange_tz)
    return frame


def _as_utc(value: pd.Timestamp | dt.date | None) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        return stamp.tz_localize(DAILY_TZ).tz_convert("UTC")
    return stamp.tz_convert("UTC")


# -- layouts -> canonical ----------------------------------------------------------------------------
def _flatten(raw: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """One ticker's columns from a flat frame or a two-level (Price, Ticker)/(Ticker, Price) one."""
    if not isinstance(raw.columns, pd.MultiIndex):
        return raw
    if raw.columns.nlevels != 2:
        raise SourceError(
            f"Yahoo Finance answered with {raw.columns.nlevels} column levels for '{symbol}' — "
            "expected (Price, Ticker); try updating yfinance"
        )
    level0 = {str(v).lower() for v in raw.columns.get_level_values(0)}
    price_level = 0 if "close" in level0 else 1
    ticker_level = 1 - price_level
    tickers = list(dict.fromkeys(raw.columns.get_level_values(ticker_level)))
    match = [t for t in tickers if str(t).upper() == symbol.upper()]
    if match:
        chosen = match[0]
    elif len(tickers) == 1:
        chosen = tickers[0]
    else:
        raise SourceError(
            f"Yahoo Finance answered for tickers {tickers}, not '{symbol}' — ask for one ticker"
        )
    return raw.xs(chosen, axis=1, level=ticker_level)


def to_canonical(
    raw: pd.DataFrame, symbol: str, interval: str, *, exchange_tz: str | None = None
) -> pd.DataFrame:
    """yfinance's frame (flat or MultiIndex columns, aware or naive index) -> canonical raw frame."""
    frame = _flatten(raw, symbol)
    by_name = {str(c).strip().lower().replace(" ", "_"): c for c in frame.columns}
    missing = [c for c in PRICE_COLUMNS if c not in by_name]
    if missing:
        raise SourceError(
            f"Yahoo Finance answered for '{symbol}' without column(s) {missing} "
            f"(got {[str(c) for c in frame.columns]}) — try updating yfinance"
        )
    out = pd.DataFrame(
        {c: pd.to_numeric(frame[by_name[c]], errors="coerce") for c in PRICE_COLUMNS},
        index=frame.index,
    ).astype(np.float64)
    if "adj_close" in by_name:
        # An unadjusted frame (auto_adjust=False): scale OHLC by Adj Close / Close, as yfinance does.
        adj = pd.to_numeric(frame[by_name["adj_close"]], errors="coerce").astype(np.float64)
        factor = adj / out["close"]
        for c in ("open", "high", "low"):
            out[c] = out[c] * factor
        out["close"] = adj
    volume = by_name.get("volume")
    out["volume"] = (
        pd.to_numeric(frame[volume], errors="coerce").astype(np.float64) if volume else 0.0
    )
    out = out.dropna(how="all", subset=list(PRICE_COLUMNS))

    index = pd.DatetimeIndex(out.index)
    if is_intraday(interval):
        if index.tz is None:
            index = index.tz_localize(exchange_tz or DAILY_TZ)
    else:
        local = index.tz_localize(None) if index.tz is not None else index
        index = local.normalize().tz_localize(DAILY_TZ)
    out.index = index.as_unit("ns").rename("time")
    out = out[~out.index.duplicated(keep="last")].sort_index()
    return out[list(COLUMNS)]


# -- validation ---------------------------------------------------------------------------------------
def units_for(columns, currency: str = "USD") -> dict[str, str]:
    """Units of the canonical columns: prices in ``currency``, volume in shares."""
    return {c: ("shares" if c == "volume" else currency) for c in columns if c in COLUMNS}


def to_series(
    frame: pd.DataFrame,
    symbol: str,
    interval: str,
    *,
    target: str = "close",
    columns: list[str] | None = None,
    source: str = "yahoo",
    currency: str = "USD",
    calendar: str | None = None,
    default_calendar: str | None = None,
    **clean,
) -> Series:
    """Validate a canonical raw frame: daily bars as trading sessions (``"B"``; ``"D"`` for
    instruments that also trade at weekends, e.g. crypto), intraday bars as trading-hours sessions.
    ``calendar``: an exchange calendar the user asked for (``--calendar``, ``data.calendar``):
    it acts on trading days and intraday bars, and on any other series (7-day crypto bars, weekly
    or monthly bars) it is a one-line DataError, never silently dropped. ``default_calendar``:
    the ticker's own (:func:`~.tickers.calendar_for`), used where it applies and else left out.
    ``clean``: ``max_gap``, ``fill``, ``duplicates`` for :func:`~forecaster.data.series.validate`."""
    cols = target_first(target, columns or COLUMNS)
    intraday = is_intraday(interval)
    if intraday:
        freq: str | None = INTRADAY_FREQ[interval]
    elif interval == "1d":
        weekend = len(frame) and (pd.DatetimeIndex(frame.index).dayofweek >= 5).any()
        freq = "D" if weekend else TRADING_DAYS
    else:
        freq = LONG_FREQ[interval]
    return validate(
        frame,
        target,
        freq=freq,
        tz=DAILY_TZ,
        source=source,
        symbol=symbol,
        units=units_for(cols, currency),
        columns=cols,
        sessions=intraday or interval in LONG_FREQ,
        calendar=calendar or (default_calendar if intraday or freq == TRADING_DAYS else None),
        **clean,
    )


# -- the source: overlap, re-adjustment, sessions ---------------------------------------------------
def readjusted(old: pd.DataFrame, new: pd.DataFrame) -> bool:
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


DECLARATION = base.Declaration(
    flags=(
        base.Flag(
            (base.Option("ticker", "symbol", "Stock ticker on Yahoo Finance, e.g. AAPL."),),
            example="--ticker AAPL",
            noun="ticker",
            upper=True,
            group=True,
        ),
    ),
    config="stocks_daily",
    names=(("symbol",),),
    missing="no ticker given — pass --ticker SYMBOL or set data.symbol in the config",
)


class YahooSource:
    """Stock bars, cached; a refresh re-requests a few days (revised last bar) and refetches the
    whole history when Yahoo re-adjusted past prices."""

    name = "yahoo"
    title = NAME
    live = True
    declaration = DECLARATION

    def resolve(self, cfg: DataConfig) -> base.Request:
        if not cfg.symbol:
            raise ConfigError("no ticker given — pass --ticker SYMBOL or set data.symbol")
        symbol = check_symbol(cfg.symbol.strip().upper())
        interval = check_interval(cfg.interval)
        columns = list(cfg.variables) or None
        unknown = [c for c in [cfg.target, *(columns or [])] if c and c not in COLUMNS]
        if unknown:
            raise ConfigError(
                f"Yahoo Finance series have columns {', '.join(COLUMNS)}; {unknown} is not "
                "one of them (prices are already split- and dividend-adjusted: use close)"
            )
        name = cache.safe_key(symbol)
        return base.Request(
            source=self.name,
            name=name,
            label=symbol,
            interval=interval,
            key=base.series_key(self.name, name, interval),
            target=cfg.target or "close",
            columns=columns,
            flag=f"--ticker {symbol}",
            identity={"source": self.name, "symbol": symbol, "interval": interval},
            fetch_columns=COLUMNS,
        )

    def covers(self, cached: cache.Cached, req, cfg: DataConfig, *, need_end: bool) -> bool:
        whole = not is_intraday(req.interval)  # no start: daily bars mean the whole history
        if not base.reaches_back(cached, base.utc(cfg.start), whole=whole):
            return False
        last = cached.last_complete
        if not need_end:
            return True
        if cfg.end is None or last is None:
            return False
        # the last session before the end (a holiday only costs a fetch)
        return last.tz_localize(None).normalize() >= pd.Timestamp(cfg.end) - pd.offsets.BDay(1)

    def _wanted(self, req, cfg: DataConfig) -> pd.Timestamp | None:
        """The oldest time to ask for (``None``: the whole history, daily and longer bars)."""
        if not is_intraday(req.interval):
            return None
        return request_window(req.interval, base.utc(cfg.start), base.utc(cfg.end))[0]

    def fetch(
        self, req: base.Request, cfg: DataConfig, cached: cache.Cached | None
    ) -> base.Fetched:
        wanted, end = self._wanted(req, cfg), base.utc(cfg.end)
        if cached is not None and base.resumable(cached, wanted):
            resume = cached.last_complete - pd.Timedelta(days=OVERLAP_DAYS.get(req.interval, 1))
            new = cached.frame.iloc[:0]
            # NoData here means nothing since the last fetch (a weekend, a holiday)
            with contextlib.suppress(NoData):
                if end is None or end > resume:
                    new = fetch_frame(req.label, req.interval, start=resume, end=end)
            if not readjusted(cached.frame, new):
                merged = cache.merge(cached.frame, new)
                meta = {
                    "covers_from": cached.meta.get("covers_from"),
                    "currency": new.attrs.get("currency") or cached.meta.get("currency", "USD"),
                    "exchange_tz": new.attrs.get("exchange_tz") or cached.meta.get("exchange_tz"),
                }
                return base.Fetched(merged, meta, base.new_rows(cached.frame, merged))
            log.info(
                "%s: Yahoo Finance re-adjusted past prices (a split or dividend) since the last "
                "fetch; refetching the whole history",
                req.label,
            )
            # every cached price is stale: replace the cache, do not merge into it
            merged = frame = fetch_frame(req.label, req.interval, start=wanted, end=None)
        else:
            # with a cache, fetch up to now so the new span meets the cached one
            frame = fetch_frame(
                req.label, req.interval, start=wanted, end=None if cached is not None else end
            )
            merged = cache.merge(cached.frame, frame) if cached is not None else frame
        meta = {
            "covers_from": None if wanted is None else wanted.isoformat(),
            "currency": frame.attrs.get("currency", "USD"),
            "exchange_tz": frame.attrs.get("exchange_tz"),
        }
        before = cached.frame if cached is not None else None
        return base.Fetched(merged, meta, base.new_rows(before, merged))

    def to_series(self, frame, meta: dict, req: base.Request, cfg: DataConfig, *, origin: str):
        return to_series(
            base.slice_span(frame, cfg, f"{req.label} data"),
            req.label,
            req.interval,
            target=req.target or "close",
            columns=req.columns,
            source=origin,
            currency=str(meta.get("currency") or "USD"),
            calendar=cfg.calendar,
            default_calendar=calendar_for(req.label),
            **base.clean_options(cfg),
        )


SOURCE = YahooSource()
