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

Yahoo keeps intraday bars for a limited time (``1m``: 30 days, at most 7 per request; ``2m`` ..
``90m``: 60 days; ``60m``/``1h``: 730 days); older starts are clamped with a notice, an end older
than that is an error. Failures: an unknown or delisted ticker raises :class:`NoData` (a
``SourceError``); network errors, timeouts and rate limits are retried (:mod:`.http`) and then raise
``SourceUnavailable``. yfinance's own logging and warnings never reach the terminal.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from forecaster.data.series import TRADING_DAYS, Series, validate
from forecaster.data.sources import http
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


class NoData(SourceError):
    """Yahoo Finance has no prices for this ticker (unknown, delisted) or this span."""


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


# -- the yfinance call -------------------------------------------------------------------------------
_TRANSIENT_NAMES = {
    "Timeout",
    "TimeoutError",
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "ChunkedEncodingError",
    "RemoteDisconnected",
    "ProxyError",
    "SSLError",
    "DNSError",
    "CurlError",
}
_NETWORK_WORDS = re.compile(
    r"resolve host|timed? ?out|timeout|connection|network|too many requests|rate limit|"
    r"currently down|ssl|proxy|dns",
    re.IGNORECASE,
)
_yf_messages: list[str] = []


class _YFinanceSink(logging.Handler):
    """Keeps yfinance's warnings and errors for our message (and -v debug), off the terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # a malformed third-party log call must not break a fetch
            msg = str(record.msg)
        if record.levelno >= logging.WARNING:
            _yf_messages.append(msg)
        log.debug("yfinance: %s", msg)


def _silence_yfinance() -> None:
    yf_log = logging.getLogger("yfinance")
    if not any(isinstance(h, _YFinanceSink) for h in yf_log.handlers):
        yf_log.addHandler(_YFinanceSink())
    yf_log.propagate = False


def _status_code(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _classify(exc: BaseException, symbol: str) -> BaseException:
    """Map a yfinance/HTTP exception to NoData, SourceError or Transient (or leave a bug alone)."""
    from yfinance import exceptions as yfe

    if isinstance(exc, yfe.YFRateLimitError):
        return http.Transient("rate limited by Yahoo: too many requests")
    if isinstance(exc, yfe.YFTickerMissingError):
        reason = getattr(exc, "yahoo_reason", None)
        if reason and "delisted" not in reason.lower() and "not found" not in reason.lower():
            return NoData(f"Yahoo Finance has no data for '{symbol}': {reason}")
        return no_data(symbol)
    if isinstance(exc, yfe.YFInvalidPeriodError):
        return SourceError(f"Yahoo Finance rejected the request for '{symbol}': {exc}")
    if isinstance(exc, yfe.YFDataException):
        return http.Transient(http.short_reason(exc))
    code = _status_code(exc)
    if code == 404:
        return no_data(symbol)
    names = {t.__name__ for t in type(exc).__mro__}
    if isinstance(exc, OSError | TimeoutError) or names & _TRANSIENT_NAMES:
        return http.Transient(http.short_reason(exc))
    return exc


def no_data(symbol: str) -> NoData:
    return NoData(
        f"Yahoo Finance has no data for ticker '{symbol}' — check the symbol (e.g. AAPL) or "
        "whether it is delisted"
    )


def _history(
    symbol: str,
    interval: str,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    timeout: float,
) -> tuple[pd.DataFrame, dict]:
    """One ``Ticker.history`` call (auto_adjust=True, no actions) with a hard deadline."""
    import yfinance as yf

    _silence_yfinance()
    kwargs: dict = {"interval": interval, "auto_adjust": True, "actions": False}
    if start is None and end is None:
        kwargs["period"] = "max"
    else:
        day = not is_intraday(interval)
        if start is not None:
            kwargs["start"] = start.date() if day else start.to_pydatetime()
        if end is not None:
            kwargs["end"] = end.date() if day else end.to_pydatetime()

    def call() -> tuple[pd.DataFrame, dict]:
        hide = yf.config.debug.hide_exceptions
        yf.config.debug.hide_exceptions = False  # raise, so we can tell network from bad ticker
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ticker = yf.Ticker(symbol)
                frame = ticker.history(timeout=max(1.0, timeout - 1.0), **kwargs)
                try:
                    meta = dict(ticker.get_history_metadata() or {})
                except Exception:  # metadata is optional (currency, time zone)
                    meta = {}
            return frame, meta
        finally:
            yf.config.debug.hide_exceptions = hide

    _yf_messages.clear()
    try:
        frame, meta = http.call_with_deadline(call, timeout, what="yahoo")
    except http.Transient:
        raise
    except Exception as exc:
        mapped = _classify(exc, symbol)
        if mapped is exc:
            raise
        raise mapped from None
    if frame is None or len(frame) == 0 or frame.dropna(how="all").empty:
        said = " | ".join(_yf_messages)
        if said and _NETWORK_WORDS.search(said):
            raise http.Transient(said.splitlines()[0][:120])
        raise no_data(symbol)
    return frame, meta


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
        return _history(symbol, interval, s, e, timeout)

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
    max_gap: int = 3,
    source: str = "yahoo",
    currency: str = "USD",
) -> Series:
    """Validate a canonical raw frame: daily bars as trading sessions (``"B"``; ``"D"`` for
    instruments that also trade at weekends, e.g. crypto), intraday bars as trading-hours sessions."""
    cols = list(columns) if columns else list(COLUMNS)
    if target not in cols:
        cols = [target, *cols]
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
        max_gap=max_gap,
        source=source,
        symbol=symbol,
        units=units_for(cols, currency),
        columns=cols,
        sessions=intraday or interval in LONG_FREQ,
    )
