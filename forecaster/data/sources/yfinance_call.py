"""The one yfinance call behind :func:`forecaster.data.sources.yahoo.fetch_frame`, and how its
failures are told apart.

yfinance reports problems in several ways: exceptions of its own, HTTP errors, an empty frame with
a logged message, or (for a hung cookie or time-zone look-up) nothing at all. :func:`history` runs
``Ticker.history`` under a hard deadline, keeps yfinance's logging off the terminal, and turns every
outcome into a frame, :class:`NoData` (unknown or delisted ticker: not retried, never masked by a
fallback), ``SourceError`` (a refused request) or :class:`~.http.Transient` (network, rate limit:
retried, then ``SourceUnavailable``).
"""

from __future__ import annotations

import logging
import re
import warnings

import pandas as pd

from forecaster.data.sources import http
from forecaster.errors import SourceError

log = logging.getLogger(__name__)


class NoData(SourceError):
    """Yahoo Finance has no prices for this ticker (unknown, delisted) or this span."""


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


def history(
    symbol: str,
    interval: str,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    timeout: float,
    *,
    daily: bool,
) -> tuple[pd.DataFrame, dict]:
    """One ``Ticker.history`` call (auto_adjust=True, no actions) with a hard deadline: the raw
    frame and Yahoo's metadata. ``daily``: ask by dates (else by stamps, intraday bars).

    Raises :class:`http.Transient` (worth retrying), :class:`NoData` or ``SourceError``."""
    import yfinance as yf

    _silence_yfinance()
    kwargs: dict = {"interval": interval, "auto_adjust": True, "actions": False}
    if start is None and end is None:
        kwargs["period"] = "max"
    else:
        if start is not None:
            kwargs["start"] = start.date() if daily else start.to_pydatetime()
        if end is not None:
            kwargs["end"] = end.date() if daily else end.to_pydatetime()

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
