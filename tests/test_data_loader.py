"""Loader + cache: incremental refresh, corrupt cache files, fallbacks, spans, keys.

Only the network boundary is faked: ``yfinance.Ticker`` answers recorded-shape frames and
``requests.get`` recorded-shape Open-Meteo JSON, built for the span each call asks for.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest
import requests
import yfinance
from fakes import FakeArchive, FakeYahoo

from forecaster.config import DataConfig
from forecaster.data import cache, loader
from forecaster.data import sources as registry
from forecaster.data.sources import http, yahoo
from forecaster.errors import ConfigError, DataError, SourceError, SourceUnavailable
from forecaster.settings import paths

NY = "America/New_York"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(http, "sleep", slept.append)
    return slept


@pytest.fixture(autouse=True)
def logs_reach_caplog(monkeypatch):
    # the CLI (when another test ran it) stops "forecaster" records from reaching the root logger
    monkeypatch.setattr(logging.getLogger("forecaster"), "propagate", True)


@pytest.fixture
def yf(monkeypatch):
    fake = FakeYahoo()
    monkeypatch.setattr(yfinance, "Ticker", fake.Ticker)
    return fake


def aapl(**kw) -> DataConfig:
    return DataConfig(source="yahoo", symbol="AAPL", interval="1d", **kw)


def age_cache(path, days):
    """Pretend the cache file was fetched ``days`` ago."""
    c = cache.read(path)
    when = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=days, minutes=5)
    cache.write(path, c.frame, {**c.meta, "fetched_at": when.isoformat()})


# -- yahoo ---------------------------------------------------------------------------------------------
def test_first_fetch_writes_the_cache_with_metadata(yf):
    got = loader.load(aapl())
    s = got.series
    assert s.source == "yahoo" and s.symbol == "AAPL" and s.freq == "B"
    assert s.end == pd.Timestamp("2024-03-08", tz=NY)
    path = paths().cache / "yahoo" / "AAPL_1d.parquet"
    assert got.cache_file == path and path.is_file()
    assert yf.calls[0]["period"] == "max"
    c = cache.read(path)
    assert c.meta["source"] == "yahoo" and c.meta["interval"] == "1d"
    assert c.meta["variables"] == ["open", "high", "low", "close", "volume"]
    assert c.meta["tz"] == NY and c.meta["covers_from"] is None and c.meta["currency"] == "USD"
    assert pd.Timestamp.now(tz="UTC") - c.fetched_at < pd.Timedelta(minutes=1)
    assert got.new_rows == len(s)


def test_refresh_fetches_only_new_rows_and_new_rows_win(yf):
    loader.load(aapl())
    path = loader.cache_file(aapl())
    yf.today = "2024-03-15"
    yf.calls.clear()
    got = loader.load(aapl())
    (call,) = yf.calls
    assert call["start"] == dt.date(2024, 3, 1)  # last cached day (Mar 8) minus the 7-day overlap
    assert "period" not in call
    assert got.new_rows == 5 and got.series.end == pd.Timestamp("2024-03-15", tz=NY)
    assert got.series.index.is_unique and len(got.series) == len(cache.read(path).frame)


def test_revised_last_bar_is_replaced_without_a_full_refetch(yf, monkeypatch):
    loader.load(aapl())
    path = loader.cache_file(aapl())
    c = cache.read(path)
    partial = c.frame.copy()
    partial.iloc[-1, partial.columns.get_loc("close")] = 1.0  # fetched mid-session
    cache.write(path, partial, c.meta)
    yf.calls.clear()
    s = loader.load_series(aapl())
    assert len(yf.calls) == 1
    assert s.frame["close"].iloc[-1] == pytest.approx(150 + 0.25 * 67)


def test_readjusted_history_triggers_a_full_refetch(yf, caplog):
    loader.load(aapl())
    yf.today, yf.scale = "2024-03-15", 0.25  # a 4:1 split re-adjusts every past price
    yf.calls.clear()
    with caplog.at_level(logging.INFO, logger="forecaster"):
        s = loader.load_series(aapl())
    assert [("start" in c, c.get("period")) for c in yf.calls] == [(True, None), (False, "max")]
    assert "re-adjusted past prices" in caplog.text
    assert s.frame["close"].iloc[0] == pytest.approx(150 * 0.25)  # no unadjusted rows left


def test_unreachable_uses_the_cache_and_says_how_old(yf, caplog):
    loader.load(aapl())
    age_cache(loader.cache_file(aapl()), days=3)
    yf.fail = requests.ConnectionError("Failed to resolve 'query2.finance.yahoo.com'")
    yf.calls.clear()
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        got = loader.load(aapl())
    assert len(yf.calls) == 3  # retried
    assert got.series.source == "cache" and got.origin == "cache"
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage() == (
        "Yahoo Finance unreachable (ConnectionError: Failed to resolve 'query2.finance.yahoo.com'); "
        "using cached AAPL data up to 2024-03-08, fetched 3 days ago"
    )
    assert any("3 days ago" in n for n in got.series.notes)


def test_unreachable_without_cache_uses_the_snapshot(yf, caplog):
    yf.fail = TimeoutError("timed out")
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        s = loader.load_series(aapl())
    assert s.source == "snapshot" and len(s) == 3270
    assert (
        "no cached AAPL data; using the bundled snapshot AAPL 2000-03-01..2013-03-01" in caplog.text
    )


def test_unreachable_with_nothing_to_fall_back_on(yf):
    yf.fail = requests.ConnectionError("down")
    with pytest.raises(SourceUnavailable) as exc:
        loader.load_series(DataConfig(source="yahoo", symbol="TSLA"))
    msg = str(exc.value)
    assert "Yahoo Finance unreachable" in msg and "no usable cached or bundled TSLA" in msg
    assert "\n" not in msg


def test_bad_ticker_is_not_masked_by_a_snapshot(yf):
    yf.fail = pd.DataFrame(columns=["Open", "High", "Low", "Close", "Volume"])
    with pytest.raises(SourceError, match="no data for ticker 'AAPL'") as exc:
        loader.load_series(aapl())
    assert not isinstance(exc.value, SourceUnavailable)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_cache_is_reported_and_refetched(yf, caplog, damage):
    loader.load(aapl())
    path = loader.cache_file(aapl())
    data = path.read_bytes()
    path.write_bytes(b"\x00garbage\xff" * 50 if damage == "garbage" else data[: len(data) // 2])
    yf.calls.clear()
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        s = loader.load_series(aapl())
    assert f"cache file {path} is corrupt" in caplog.text and "refetching" in caplog.text
    assert s.source == "yahoo" and yf.calls[0]["period"] == "max"
    assert cache.read(path) is not None  # rewritten


def test_corrupt_cache_offline_is_ignored(yf, caplog):
    path = loader.cache_file(aapl())
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 not really")
    with caplog.at_level(logging.INFO, logger="forecaster"):
        s = loader.load_series(aapl(offline=True))
    assert "is corrupt" in caplog.text and s.source == "snapshot" and yf.calls == []


def test_offline_uses_the_cache_without_the_network(yf, caplog):
    loader.load(aapl())
    yf.calls.clear()
    with caplog.at_level(logging.INFO, logger="forecaster"):
        s = loader.load_series(aapl(offline=True))
    assert yf.calls == [] and s.source == "cache"
    assert "offline: using cached AAPL data up to 2024-03-08, fetched just now" in caplog.text


def test_offline_with_nothing_says_what_to_do():
    with pytest.raises(SourceUnavailable, match="offline.*forecast data fetch --ticker TSLA"):
        loader.load_series(DataConfig(source="yahoo", symbol="TSLA", offline=True))


def test_refresh_false_or_a_covered_span_skips_the_network(yf):
    loader.load(aapl())
    yf.calls.clear()
    assert loader.load_series(aapl(), refresh=False).source == "cache"
    s = loader.load_series(aapl(start="2024-02-01", end="2024-03-01"))
    assert yf.calls == [] and s.source == "cache"
    assert s.start == pd.Timestamp("2024-02-01", tz=NY) and s.end == pd.Timestamp(
        "2024-02-29", tz=NY
    )


def test_start_end_apply_to_snapshots_too():
    s = loader.load_series(aapl(offline=True, start="2010-01-01", end="2011-01-01"))
    assert s.start.year == 2010 and s.end.year == 2010
    with pytest.raises(DataError, match="covers 2000-03-01..2013-03-01.*adjust --start/--end"):
        loader.load_series(aapl(offline=True, start="2020-01-01"))


def test_target_and_covariates_are_checked():
    s = loader.load_series(aapl(offline=True, covariates=["log_return", "range", "log_volume"]))
    assert s.target == "close"
    with pytest.raises(DataError, match="unknown covariate 'sentiment'"):
        loader.load_series(aapl(offline=True, covariates=["sentiment"]))
    with pytest.raises(ConfigError, match=r"\['adj_close'\] is not one of them.*use close"):
        loader.load_series(aapl(offline=True, target="adj_close"))
    with pytest.raises(
        SourceUnavailable, match="the bundled snapshot greensboro has no 'precipitation'"
    ):
        loader.load_series(greensboro(offline=True, target="precipitation"))


def test_fetch_says_what_offline_runs_would_use(yf):
    yf.fail = requests.ConnectionError("down")
    with pytest.raises(SourceUnavailable) as exc:
        loader.fetch(aapl())
    assert (
        "nothing fetched; offline runs use the bundled snapshot AAPL 2000-03-01..2013-03-01"
        in str(exc.value)
    )


def test_series_keys():
    assert loader.series_key(DataConfig(source="yahoo", symbol="aapl")) == "yahoo-AAPL-1d"
    # a name the safe-name function had to change keeps its identity as a hash (issue 12 item 7:
    # it used to be "yahoo-_GSPC-1h", the key of the different symbol _GSPC)
    assert (
        loader.series_key(DataConfig(source="yahoo", symbol="^GSPC", interval="1h"))
        == "yahoo-_GSPC~df302d10-1h"
    )
    city = DataConfig(source="open-meteo", symbol="Greensboro", interval="1h")
    assert loader.series_key(city) == "open-meteo-greensboro-1h"
    coords = DataConfig(source="open-meteo", latitude=35.07, longitude=-79.79, interval="1h")
    assert loader.series_key(coords) == "open-meteo-35.07_-79.79-1h"
    # a file's key carries a hash of its resolved path: two folders' sales.csv never meet
    assert (
        loader.series_key(DataConfig(source="csv", path="/x/my prices.csv"))
        == "csv-my_prices~000a617f"
    )
    assert loader.series_key(DataConfig(source="csv", path="/x/my_prices.csv")) == (
        "csv-my_prices~2fb9ce16"
    )
    assert (
        loader.series_key(DataConfig(source="snapshot", symbol="seattle")) == "snapshot-seattle-1d"
    )


def test_cache_merge_and_age():
    idx = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC", name="time")
    old = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}, index=idx)
    new = pd.DataFrame(
        {"a": [30.0, np.nan, 50.0]}, index=idx[2:].append(idx[-1:] + pd.Timedelta("1h"))
    )
    merged = cache.merge(old, new.tz_convert("Asia/Tokyo"))
    assert merged["a"].tolist() == [1.0, 2.0, 30.0, 4.0, 50.0]  # a missing new value keeps the old
    assert str(merged.index.tz) == "UTC"
    now = pd.Timestamp("2024-01-10", tz="UTC")
    assert cache.age_text(now - pd.Timedelta(days=3, hours=2), now) == "3 days ago"
    assert cache.age_text(now - pd.Timedelta(hours=1), now) == "1 hour ago"
    assert cache.age_text(now - pd.Timedelta(seconds=10), now) == "just now"
    assert cache.safe_name("BRK/B ") == "BRK_B"


# -- open-meteo ----------------------------------------------------------------------------------------
@pytest.fixture
def archive(monkeypatch):
    fake = FakeArchive()
    monkeypatch.setattr(requests, "get", fake)
    return fake


def greensboro(**kw) -> DataConfig:
    return DataConfig(
        source="open-meteo",
        symbol="greensboro",
        interval="1h",
        variables=["temperature_2m", "dew_point_2m"],
        **kw,
    )


def test_weather_first_fetch_then_incremental(archive):
    cfg = greensboro(start="2024-01-01", end="2024-01-11")
    s = loader.load_series(cfg)
    assert (
        archive.calls[0]["start_date"] == "2024-01-01"
        and archive.calls[0]["end_date"] == "2024-01-10"
    )
    assert archive.calls[0]["timezone"] == "America/New_York"
    assert s.source == "open-meteo" and s.target == "temperature_2m"
    assert s.end == pd.Timestamp("2024-01-10 18:00", tz=NY)  # the 5 null hours trimmed
    c = cache.read(loader.cache_file(cfg))
    assert c.frame["temperature_2m"].isna().sum() == 5  # kept raw, so the next fetch resumes there
    archive.available = pd.Timestamp("2024-01-20 18:00")
    s = loader.load_series(greensboro(start="2024-01-01", end="2024-01-21"))
    # resumes 7 days before the last complete hour (Jan 10 18:00)
    assert (
        archive.calls[1]["start_date"] == "2024-01-03"
        and archive.calls[1]["end_date"] == "2024-01-20"
    )
    assert s.end == pd.Timestamp("2024-01-20 18:00", tz=NY) and s.index.is_unique


def test_weather_older_start_extends_the_cache_as_one_span(archive):
    loader.load_series(greensboro(start="2024-01-05", end="2024-01-11"))
    s = loader.load_series(greensboro(start="2024-01-01", end="2024-01-03"))
    # fetched up to where the cache begins, so the cached span has no hole
    assert (
        archive.calls[1]["start_date"] == "2024-01-01"
        and archive.calls[1]["end_date"] == "2024-01-05"
    )
    assert s.start == pd.Timestamp("2024-01-01", tz=NY) and s.end == pd.Timestamp(
        "2024-01-02 23:00", tz=NY
    )
    c = cache.read(loader.cache_file(greensboro()))
    assert c.meta["covers_from"].startswith("2024-01-01")
    hours = c.frame.loc[:"2024-01-10 18:00"]
    assert hours.notna().all(axis=None) and len(hours) == 24 * 9 + 19
    s = loader.load_series(greensboro(start="2024-01-02", end="2024-01-10"))  # covered: no request
    assert len(archive.calls) == 2 and s.source == "cache"


def test_weather_unreachable_falls_back_to_the_bundled_year(archive, caplog):
    archive.fail = requests.ConnectionError("no route to host")
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        s = loader.load_series(greensboro())
    assert s.source == "snapshot" and s.symbol == "greensboro" and len(s) == 8760
    assert list(s.frame.columns) == ["temperature_2m", "dew_point_2m"]
    assert "Open-Meteo unreachable" in caplog.text and "bundled snapshot greensboro" in caplog.text


def test_weather_api_error_is_not_masked(monkeypatch):
    def refuse(url, params=None, timeout=None):
        response = requests.Response()
        response.status_code = 400
        response._content = (
            b'{"error":true,"reason":"Parameter \'start_date\' is out of allowed range"}'
        )
        return response

    monkeypatch.setattr(requests, "get", refuse)
    with pytest.raises(SourceError, match="rejected the request: Parameter 'start_date'"):
        loader.load_series(greensboro())


def test_yahoo_adapter_constants_match_the_registry():
    assert registry.get("yahoo").title == yahoo.NAME == "Yahoo Finance"
