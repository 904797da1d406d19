"""The Yahoo Finance adapter against recorded-shape yfinance frames (only ``yfinance.Ticker`` is faked).

Shapes as yfinance 1.x returns them: ``Ticker.history`` gives flat ``Open High Low Close Volume``
columns on a tz-aware exchange-time index named ``Date`` (``Datetime`` intraday); ``yf.download``
gives a (Price, Ticker) column MultiIndex on a naive daily index.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import pytest
import requests
import yfinance
from yfinance import exceptions as yfe

from forecaster.data.sources import http, yahoo
from forecaster.errors import ConfigError, SourceError, SourceUnavailable

# AAPL, 2024-03-04 .. 2024-03-08 as Ticker.history(auto_adjust=True) returned it (rounded).
AAPL_WEEK = {
    "Open": [175.49, 170.35, 170.57, 169.53, 168.38],
    "High": [176.12, 171.64, 171.63, 170.13, 172.96],
    "Low": [172.97, 169.07, 168.54, 167.71, 168.05],
    "Close": [174.33, 169.52, 168.95, 168.04, 169.72],
    "Volume": [81510100, 95132400, 68587700, 71765100, 76114600],
}
WEEK = pd.DatetimeIndex(pd.date_range("2024-03-04", periods=5, freq="D"), name="Date").tz_localize(
    "America/New_York"
)


def history_frame(index=WEEK, values=AAPL_WEEK) -> pd.DataFrame:
    return pd.DataFrame(values, index=index)


def download_frame(symbol="AAPL") -> pd.DataFrame:
    """yf.download(..., group_by='column') layout: (Price, Ticker) columns, naive daily index."""
    flat = history_frame()
    flat.index = flat.index.tz_localize(None)
    flat.columns = pd.MultiIndex.from_product([flat.columns, [symbol]], names=["Price", "Ticker"])
    return flat.sort_index(axis=1, level=0)


class FakeYF:
    """Stands in for ``yfinance.Ticker``: each ``history`` call takes the next response.

    A response is a DataFrame (returned), an exception (raised) or a callable(symbol, kwargs).
    """

    def __init__(self, *responses, log_error: str | None = None):
        self.responses = list(responses)
        self.calls: list[tuple[str, dict]] = []
        self.log_error = log_error

    def Ticker(self, symbol):  # noqa: N802 - mirrors yfinance's class name
        fake = self

        class _Ticker:
            def history(self, **kwargs):
                fake.calls.append((symbol, kwargs))
                if fake.log_error:  # yfinance logs instead of raising when hide_exceptions is on
                    logging.getLogger("yfinance").error(fake.log_error)
                r = fake.responses[min(len(fake.calls), len(fake.responses)) - 1]
                if isinstance(r, BaseException):
                    raise r
                return r(symbol, kwargs) if callable(r) else r.copy()

            def get_history_metadata(self):
                return {"currency": "USD", "exchangeTimezoneName": "America/New_York"}

        return _Ticker()


@pytest.fixture
def no_sleep(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(http, "sleep", slept.append)
    return slept


def use(monkeypatch, fake: FakeYF) -> FakeYF:
    monkeypatch.setattr(yfinance, "Ticker", fake.Ticker)
    return fake


def test_flat_history_frame_becomes_canonical_adjusted_daily_bars(monkeypatch, no_sleep):
    fake = use(monkeypatch, FakeYF(history_frame()))
    frame = yahoo.fetch_frame("AAPL", "1d")
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index[0] == pd.Timestamp("2024-03-04", tz="America/New_York")
    assert frame["close"].tolist() == AAPL_WEEK["Close"]
    assert frame.attrs["currency"] == "USD"
    _, kwargs = fake.calls[0]
    assert kwargs["auto_adjust"] is True and kwargs["actions"] is False
    assert kwargs["period"] == "max"  # no start: the whole history
    s = yahoo.to_series(frame, "AAPL", "1d")
    assert s.freq == "B" and s.target == "close" and s.source == "yahoo"
    assert s.units == {
        "open": "USD",
        "high": "USD",
        "low": "USD",
        "close": "USD",
        "volume": "shares",
    }


def test_multiindex_download_layout_gives_the_same_frame(monkeypatch, no_sleep):
    use(monkeypatch, FakeYF(history_frame()))
    flat = yahoo.fetch_frame("AAPL", "1d")
    from_multi = yahoo.to_canonical(download_frame(), "AAPL", "1d")
    pd.testing.assert_frame_equal(flat, from_multi, check_freq=False)
    by_ticker = download_frame().swaplevel(axis=1)  # group_by='ticker': (Ticker, Price)
    pd.testing.assert_frame_equal(
        flat, yahoo.to_canonical(by_ticker, "aapl", "1d"), check_freq=False
    )
    with pytest.raises(SourceError, match="not 'AAPL'"):
        two = pd.concat([download_frame("MSFT"), download_frame("IBM")], axis=1)
        yahoo.to_canonical(two, "AAPL", "1d")


def test_unadjusted_frame_is_adjusted_by_adj_close(monkeypatch):
    raw = history_frame()
    raw["Adj Close"] = raw["Close"] * 0.5
    frame = yahoo.to_canonical(raw, "AAPL", "1d")
    assert np.allclose(frame["close"], np.array(AAPL_WEEK["Close"]) * 0.5)
    assert np.allclose(frame["open"], np.array(AAPL_WEEK["Open"]) * 0.5)


def test_daily_stamps_are_normalised_to_new_york_midnight():
    raw = history_frame()
    raw.index = WEEK.tz_convert("Europe/Berlin").tz_localize(None).tz_localize("Europe/Berlin")
    raw.index = raw.index.normalize()  # a European listing: midnight Berlin
    frame = yahoo.to_canonical(raw, "SAP.DE", "1d")
    assert str(frame.index.tz) == "America/New_York"
    assert (frame.index.hour == 0).all()
    assert frame.index[0].date() == raw.index[0].date()


def test_intraday_bars_keep_the_exchange_zone_and_trading_hours(monkeypatch, no_sleep):
    day1 = pd.date_range("2024-03-04 09:30", "2024-03-04 15:55", freq="5min")
    day2 = pd.date_range("2024-03-05 09:30", "2024-03-05 15:55", freq="5min")
    idx = day1.append(day2).tz_localize("America/New_York").rename("Datetime")
    n = len(idx)
    raw = pd.DataFrame(
        {
            "Open": np.linspace(170, 172, n),
            "High": np.linspace(170.5, 172.5, n),
            "Low": np.linspace(169.5, 171.5, n),
            "Close": np.linspace(170.2, 172.2, n),
            "Volume": np.full(n, 1e5),
        },
        index=idx,
    )
    fake = use(monkeypatch, FakeYF(raw))
    frame = yahoo.fetch_frame("AAPL", "5m")
    assert frame.index[0] == pd.Timestamp("2024-03-04 09:30", tz="America/New_York")
    _, kwargs = fake.calls[0]
    assert "start" in kwargs and "period" not in kwargs  # intraday never asks for "max"
    s = yahoo.to_series(frame, "AAPL", "5m")
    assert s.freq == "5min" and len(s) == n


def test_unknown_interval_is_a_clear_error():
    with pytest.raises(ConfigError, match="no interval '2h' — use one of: 1m 2m 5m"):
        yahoo.fetch_frame("AAPL", "2h")


def test_intraday_lookback_limits(caplog):
    now = pd.Timestamp("2024-06-01 12:00", tz="UTC")
    start, end = yahoo.request_window("1m", None, None, now)
    assert now - start <= pd.Timedelta(days=7)
    with caplog.at_level(logging.INFO, logger="forecaster"):
        start, _ = yahoo.request_window("5m", pd.Timestamp("2024-01-01", tz="UTC"), None, now)
    assert now - start < pd.Timedelta(days=60)
    assert "last 60 days only" in caplog.text
    with pytest.raises(SourceError, match="last 730 days only.*--interval 1d"):
        yahoo.request_window("1h", None, pd.Timestamp("2020-01-01", tz="UTC"), now)
    daily = yahoo.request_window("1d", pd.Timestamp("1990-01-01", tz="UTC"), None, now)
    assert daily[0] == pd.Timestamp("1990-01-01", tz="UTC")


def test_empty_frame_for_unknown_ticker_is_one_line_source_error(monkeypatch, no_sleep, capfd):
    empty = pd.DataFrame(columns=["Open", "High", "Low", "Close", "Adj Close", "Volume"])
    fake = use(
        monkeypatch,
        FakeYF(
            empty, log_error="$NOSUCHTICKER: possibly delisted; no price data found (period=max)"
        ),
    )
    with pytest.raises(SourceError) as exc:
        yahoo.fetch_frame("NOSUCHTICKER")
    assert not isinstance(exc.value, SourceUnavailable)
    assert str(exc.value) == (
        "Yahoo Finance has no data for ticker 'NOSUCHTICKER' — check the symbol (e.g. AAPL) "
        "or whether it is delisted"
    )
    assert len(fake.calls) == 1  # not retried
    assert "delisted" not in capfd.readouterr().err  # yfinance's own logging is silenced


def test_yfinance_missing_errors_map_to_no_data(monkeypatch, no_sleep):
    use(monkeypatch, FakeYF(yfe.YFTzMissingError("NOSUCH")))
    with pytest.raises(yahoo.NoData, match="no data for ticker 'NOSUCH'"):
        yahoo.fetch_frame("NOSUCH")
    reason = "1m data not available for startTime=1 and endTime=2. Only 7 days worth of 1m granularity data are allowed"
    use(monkeypatch, FakeYF(yfe.YFPricesMissingError("AAPL", "", yahoo_reason=reason)))
    with pytest.raises(yahoo.NoData, match="Only 7 days worth"):
        yahoo.fetch_frame("AAPL", "1d")


def test_http_404_is_no_data_not_a_network_failure(monkeypatch, no_sleep):
    response = requests.Response()
    response.status_code = 404
    use(monkeypatch, FakeYF(requests.HTTPError("404 Client Error", response=response)))
    with pytest.raises(yahoo.NoData):
        yahoo.fetch_frame("NOSUCH")


def test_network_errors_are_retried_with_backoff_then_unavailable(monkeypatch, no_sleep):
    err = requests.ConnectionError("Failed to resolve 'query2.finance.yahoo.com'")
    fake = use(monkeypatch, FakeYF(err))
    with pytest.raises(SourceUnavailable) as exc:
        yahoo.fetch_frame("AAPL")
    assert len(fake.calls) == 3
    assert no_sleep == [1.0, 2.0]
    msg = str(exc.value)
    assert msg.startswith("Yahoo Finance unreachable (ConnectionError: Failed to resolve")
    assert "after 3 tries" in msg and "\n" not in msg


def test_rate_limit_then_success(monkeypatch, no_sleep):
    fake = use(monkeypatch, FakeYF(yfe.YFRateLimitError(), history_frame()))
    frame = yahoo.fetch_frame("AAPL")
    assert len(frame) == 5 and len(fake.calls) == 2 and no_sleep == [1.0]


def test_empty_frame_after_logged_network_error_is_transient(monkeypatch, no_sleep):
    empty = pd.DataFrame(columns=["Open", "High", "Low", "Close", "Volume"])
    use(
        monkeypatch,
        FakeYF(empty, log_error="Failed to get ticker 'AAPL' reason: Connection timed out"),
    )
    with pytest.raises(SourceUnavailable, match="timed out"):
        yahoo.fetch_frame("AAPL")


def test_a_hanging_call_is_abandoned_at_the_deadline():
    t0 = time.monotonic()
    with pytest.raises(http.Transient, match="no answer within"):
        http.call_with_deadline(lambda: time.sleep(5), 0.2)
    assert time.monotonic() - t0 < 1.0


def test_retry_respects_the_total_budget():
    clock = iter([0.0, 0.0, 9.0, 9.0, 14.5, 14.5]).__next__
    tries: list[float] = []

    def attempt(timeout):
        tries.append(timeout)
        raise http.Transient("timed out")

    with pytest.raises(http.Unreachable) as exc:
        http.retry(attempt, what="X", sleep_fn=lambda s: None, clock=clock, budget=15.0)
    assert tries == [10.0, 6.0]  # the second try only gets what is left of the budget
    assert exc.value.tries == 2


def _daily(days: pd.DatetimeIndex) -> pd.DataFrame:
    """Canonical raw daily bars (``fetch_frame``'s shape) on ``days``, a gentle climb."""
    close = np.linspace(100.0, 110.0, len(days))
    frame = pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1e6},
        index=days.tz_localize("America/New_York").rename("time"),
    )
    return frame


def test_an_explicit_calendar_acts_or_is_a_one_line_error(data_root):
    """Issue 24 item 7 for Yahoo: ``--calendar`` on 7-day (crypto) or weekly bars was dropped
    silently; it is an error naming the fix, while the ticker's own calendar is simply left out
    where it does not apply, and an explicit one on trading days still acts."""
    from forecaster.config import DataConfig
    from forecaster.data.sources.base import Request
    from forecaster.errors import DataError

    crypto = _daily(pd.date_range("2024-01-01", periods=40, freq="D"))
    with pytest.raises(DataError, match=r"XNYS applies to trading days .* drop --calendar") as err:
        yahoo.to_series(crypto, "BTC-USD", "1d", calendar="XNYS")
    assert "\n" not in str(err.value)
    assert yahoo.to_series(crypto, "BTC-USD", "1d").calendar is None
    weekly = _daily(pd.date_range("2023-01-06", periods=30, freq="7D"))
    req = Request("yahoo", "AAPL", "AAPL", "1wk", "yahoo-AAPL-1wk", None, None)
    plain = yahoo.SOURCE.to_series(weekly, {}, req, DataConfig(), origin="yahoo")
    assert plain.calendar is None  # the ticker's XNYS does not apply to weekly bars: no error
    with pytest.raises(DataError, match=r"XNYS applies to trading days"):
        yahoo.SOURCE.to_series(weekly, {}, req, DataConfig(calendar="XNYS"), origin="yahoo")
    days = _daily(pd.bdate_range("2024-01-02", periods=30))
    req = Request("yahoo", "BTC-USD", "BTC-USD", "1d", "yahoo-BTC-USD-1d", None, None)
    acted = yahoo.SOURCE.to_series(days, {}, req, DataConfig(calendar="XNYS"), origin="yahoo")
    assert acted.calendar == "XNYS" and acted.freq == "B"
