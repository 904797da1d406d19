"""Issue 12, data layer: names from user input stay under the data root and never collide, a cache
file of another series is never merged into, and odd input or odd answers are one-line errors.

Only the network boundary is faked (recorded-shape ``yfinance.Ticker`` frames and Open-Meteo JSON).
"""

from __future__ import annotations

import json
import logging
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests
import yfinance
from click.testing import CliRunner
from fakes import FakeArchive, FakeYahoo

from forecaster.cli import cli
from forecaster.config import DataConfig
from forecaster.data import cache, loader
from forecaster.data.sources import http, openmeteo
from forecaster.errors import ConfigError, DataError, SourceError, SourceUnavailable
from forecaster.settings import paths


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(http, "sleep", lambda s: None)
    logger = logging.getLogger("forecaster")
    saved = (list(logger.handlers), logger.level)
    monkeypatch.setattr(logger, "propagate", True)
    yield
    logger.handlers[:], logger.level = saved


@pytest.fixture
def yf(monkeypatch):
    fake = FakeYahoo()
    monkeypatch.setattr(yfinance, "Ticker", fake.Ticker)
    return fake


@pytest.fixture
def archive(monkeypatch):
    fake = FakeArchive()
    monkeypatch.setattr(requests, "get", fake)
    return fake


def run(*args):
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_under_root(cfg: DataConfig):
    """The cache file, the model folder and the lock file a config leads to lie under the root."""
    root = paths().root.resolve()
    key = loader.series_key(cfg)
    assert "/" not in key and not key.startswith(".") and len(key) < 120, key
    for path in (paths().models / key, paths().locks / f"{key}.lock"):
        assert path.resolve().parent == path.parent.resolve(), path
        assert path.resolve().is_relative_to(root), path
    file = loader.cache_file(cfg)
    if file is not None:
        assert file.resolve().is_relative_to(paths().cache.resolve()), file
        assert len(file.name) < 120
    return key


# -- item 6: every path built from user input stays under the data root --------------------------------
@pytest.mark.parametrize("ticker", ["../../outside", "/etc/passwd", "..", "a/../../b", "X" * 30])
def test_ticker_paths_stay_under_the_data_root(ticker):
    assert_under_root(DataConfig(source="yahoo", symbol=ticker))


@pytest.mark.parametrize("city", ["../../outside", "/etc", ".."])
def test_city_name_is_a_one_line_error_before_any_path_is_built(city):
    with pytest.raises(ConfigError, match="unknown city") as exc:
        loader.series_key(DataConfig(source="open-meteo", symbol=city))
    assert "\n" not in str(exc.value)
    result = run("data", "show", "--city", city, "--offline")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1


@pytest.mark.parametrize("name", ["../../x", "/abs/olute", "..", ".hidden", "a b/c"])
def test_place_name_from_a_config_with_coordinates_stays_under_the_data_root(name):
    # data.symbol with lat/lon names the place freely; it used to go into the key unchanged
    cfg = DataConfig(source="open-meteo", symbol=name, latitude=35.07, longitude=-79.79)
    key = assert_under_root(cfg)
    assert key.startswith("open-meteo-") and key.endswith("-1d")


@pytest.mark.parametrize("stem", ["..", "...", "-rf", "x" * 200, "my prices"])
def test_csv_derived_key_stays_under_the_data_root(tmp_path, stem):
    cfg = DataConfig(source="csv", path=tmp_path / f"{stem}.csv")
    assert loader.cache_file(cfg) is None
    assert assert_under_root(cfg).startswith("csv-")


def test_a_path_that_would_escape_the_root_is_refused():
    root = paths().cache
    with pytest.raises(ConfigError, match="would lie outside") as exc:
        cache.under(root, root / "yahoo" / ".." / ".." / "x.parquet", "cache file")
    assert "\n" not in str(exc.value)
    assert cache.cache_path("..", "../../x", "/1d") == root / "_" / "_.._x~9cdf6a50__1d.parquet"


# -- item 7: keys that cannot collide, and a cache merge that checks what the file holds ---------------
@pytest.mark.parametrize("a, b", [("^GSPC", "_GSPC"), ("BRK/B", "BRK_B"), ("^X~1", "_X~1")])
def test_symbols_that_clean_to_one_name_keep_distinct_keys_and_cache_files(a, b):
    first, second = DataConfig(source="yahoo", symbol=a), DataConfig(source="yahoo", symbol=b)
    assert loader.series_key(first) != loader.series_key(second)
    assert loader.cache_file(first) != loader.cache_file(second)


def test_file_and_place_names_that_clean_to_one_name_keep_distinct_keys(tmp_path):
    spaced = DataConfig(source="csv", path=tmp_path / "my prices.csv")
    underscored = DataConfig(source="csv", path=tmp_path / "my_prices.csv")
    assert loader.series_key(spaced) != loader.series_key(underscored)
    farm = {"source": "open-meteo", "latitude": 35.0, "longitude": -79.0}
    assert loader.series_key(DataConfig(symbol="north/farm", **farm)) != loader.series_key(
        DataConfig(symbol="north_farm", **farm)
    )


def test_existing_keys_stay_the_same():
    assert loader.series_key(DataConfig(source="yahoo", symbol="AAPL")) == "yahoo-AAPL-1d"
    assert loader.series_key(DataConfig(source="yahoo", symbol="BRK-B")) == "yahoo-BRK-B-1d"
    assert loader.series_key(DataConfig(source="yahoo", symbol="EURUSD=X")) == "yahoo-EURUSD=X-1d"
    city = DataConfig(source="open-meteo", symbol="greensboro", interval="1h")
    assert loader.cache_file(city) == paths().cache / "open-meteo" / "greensboro_1h.parquet"


def test_a_cache_file_of_another_symbol_is_refetched_not_merged(yf, caplog):
    loader.load(DataConfig(source="yahoo", symbol="AAPL"))
    msft = DataConfig(source="yahoo", symbol="MSFT")
    # a file under MSFT's name that holds AAPL (two names that once shared a file name)
    shutil.copy(
        loader.cache_file(DataConfig(source="yahoo", symbol="AAPL")), loader.cache_file(msft)
    )
    yf.calls.clear()
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        got = loader.load(msft)
    assert "holds {'symbol': 'AAPL'}, not symbol 'MSFT'; refetching" in caplog.text
    assert yf.calls[0].get("period") == "max"  # the whole history again, nothing merged
    assert cache.read(loader.cache_file(msft)).meta["symbol"] == "MSFT"
    assert got.origin == "live"
    yf.fail = requests.ConnectionError("down")  # and never served as MSFT when offline
    shutil.copy(
        loader.cache_file(DataConfig(source="yahoo", symbol="AAPL")), loader.cache_file(msft)
    )
    assert loader.load(msft).origin == "snapshot"


def test_a_cache_file_of_the_same_place_name_elsewhere_is_refetched(archive, caplog):
    here = DataConfig(
        source="open-meteo",
        symbol="farm",
        latitude=35.0,
        longitude=-79.0,
        interval="1h",
        start="2024-01-01",
        end="2024-01-05",
    )
    loader.load(here)
    there = here.model_copy(update={"latitude": 48.0, "longitude": 11.0})
    assert loader.cache_file(there) == loader.cache_file(here)  # a name the user chose twice
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        got = loader.load(there)
    assert got.origin == "live" and len(archive.calls) == 2  # not served from the other farm
    assert archive.calls[1]["latitude"] == "48.0000"
    assert "holds {'latitude': 35.0, 'longitude': -79.0}" in caplog.text
    assert cache.read(loader.cache_file(there)).meta["latitude"] == 48.0


# -- item 8: tracebacks that are now one line -------------------------------------------------------------
def test_invalid_tz_with_csv_is_one_line(tmp_path):
    path = tmp_path / "x.csv"
    pd.DataFrame({"t": pd.date_range("2024-01-01", periods=10, freq="h"), "v": range(10)}).to_csv(
        path, index=False
    )
    result = run("data", "show", "--csv", str(path), "--tz", "Europe/Atlantis")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "unknown time zone" in result.stderr
    with pytest.raises(ConfigError, match="weather only"):
        loader.load(DataConfig(source="csv", path=path, timezone="auto"))


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ChunkedEncodingError(
            "Connection broken: IncompleteRead(12 bytes read)"
        ),
        requests.exceptions.ContentDecodingError("Received response with content-encoding: gzip"),
    ],
)
def test_open_meteo_transfer_errors_are_retried_then_unavailable(monkeypatch, failure):
    def get(url, params=None, timeout=None):
        raise failure

    monkeypatch.setattr(requests, "get", get)
    with pytest.raises(SourceUnavailable, match=type(failure).__name__) as exc:
        openmeteo.fetch_frame(
            openmeteo.CITIES["greensboro"],
            "1h",
            start_date=pd.Timestamp("2024-01-01").date(),
            end_date=pd.Timestamp("2024-01-02").date(),
        )
    assert "\n" not in str(exc.value)
    city = DataConfig(source="open-meteo", symbol="greensboro", interval="1h")
    assert loader.load(city).origin == "snapshot"  # and the loader falls back on it


def recorded_body(values, times=None) -> dict:
    times = times or [f"2024-01-01T{h:02d}:00" for h in range(len(values))]
    return {
        "latitude": 36.06,
        "longitude": -79.78,
        "utc_offset_seconds": -18000,
        "timezone": "America/New_York",
        "hourly_units": {"time": "iso8601", "temperature_2m": "°C"},
        "hourly": {"time": times, "temperature_2m": values},
    }


@pytest.mark.parametrize(
    "body, match",
    [
        (recorded_body([1.0, "n/a", 3.0]), "not a number for 'temperature_2m' \\('n/a'\\)"),
        (recorded_body([1.0, {"v": 2}, 3.0]), "not a number"),
        (recorded_body([1.0, 2.0], times=["2024-01-01T00:00", "yesterday"]), "do not parse"),
        (recorded_body([1.0, 2.0, 3.0]) | {"utc_offset_seconds": "x"}, "do not parse"),
        (recorded_body([1.0]) | {"hourly": {"time": "2024", "temperature_2m": [1]}}, "without"),
    ],
)
def test_open_meteo_answers_of_the_wrong_shape_are_a_source_error(monkeypatch, body, match):
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(body).encode()
    monkeypatch.setattr(requests, "get", lambda url, params=None, timeout=None: response)
    with pytest.raises(SourceError, match=match) as exc:
        openmeteo.fetch_frame(
            openmeteo.CITIES["greensboro"],
            "1h",
            ["temperature_2m"],
            start_date=pd.Timestamp("2024-01-01").date(),
            end_date=pd.Timestamp("2024-01-01").date(),
        )
    assert "\n" not in str(exc.value)


def test_open_meteo_body_that_is_not_json_is_unavailable(monkeypatch):
    response = requests.Response()
    response.status_code = 200
    response._content = b"<html>502 Bad Gateway</html>"
    monkeypatch.setattr(requests, "get", lambda url, params=None, timeout=None: response)
    with pytest.raises(SourceUnavailable, match="not JSON"):
        openmeteo.fetch_frame(
            openmeteo.CITIES["greensboro"],
            "1h",
            start_date=pd.Timestamp("2024-01-01").date(),
            end_date=pd.Timestamp("2024-01-01").date(),
        )


def rewrite_meta(path, **changes):
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[cache.META_KEY]) | changes
    table = table.replace_schema_metadata(
        {**table.schema.metadata, cache.META_KEY: json.dumps(meta).encode()}
    )
    pq.write_table(table, path)


@pytest.mark.parametrize(
    "changes",
    [
        {"covers_from": "garbage"},
        {"covers_from": 5},
        {"covers_from": "2024-01-01"},  # not a UTC time
        {"units": "°C"},
        {"latitude": "north"},
    ],
)
def test_garbage_in_cache_metadata_is_a_corrupt_cache(archive, caplog, changes):
    cfg = DataConfig(
        source="open-meteo",
        symbol="greensboro",
        interval="1h",
        start="2024-01-01",
        end="2024-01-05",
    )
    loader.load(cfg)
    rewrite_meta(loader.cache_file(cfg), **changes)
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        got = loader.load(cfg)
        offline = loader.load(cfg.model_copy(update={"offline": True}))
    assert "is corrupt (metadata" in caplog.text and "refetching" in caplog.text
    assert got.origin == "live" and archive.calls[-1]["start_date"] == "2024-01-01"
    assert offline.origin == "cache"  # rewritten by the refetch


# -- item 9: odd input from a new user -----------------------------------------------------------------------
def test_a_5000_character_ticker_is_one_line():
    result = run("data", "show", "--ticker", "A" * 5000)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "is not a Yahoo Finance ticker (5,000 characters" in result.stderr
    assert len(result.stderr) < 200
    result = run("data", "show", "--ticker", "AA PL")
    assert result.exit_code == 2 and "spaces" in result.stderr


def test_unknown_tz_with_a_city_is_rejected_not_ignored():
    result = run("data", "show", "--city", "greensboro", "--tz", "Mars/Base", "--offline")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "data.timezone='Mars/Base': unknown time zone" in (
        result.stderr
    )
    assert run("data", "show", "--city", "greensboro", "--tz", "auto", "--offline").exit_code == 0


def csv_with_times(tmp_path, times, name="meter.csv"):
    path = tmp_path / name
    pd.DataFrame({"time": times, "kw": [float(i) for i in range(len(times))]}).to_csv(
        path, index=False
    )
    return path


def test_mixed_utc_offsets_are_named_as_the_cause(tmp_path):
    # Berlin wall-clock times across the spring change, each with its own offset: fine in UTC
    good = [f"2024-03-31T0{h}:00:00+01:00" for h in range(2)] + [
        f"2024-03-31T0{h}:00:00+02:00" for h in range(3, 7)
    ]
    s = loader.load_series(DataConfig(source="csv", path=csv_with_times(tmp_path, good)))
    assert len(s) == 6 and s.freq == "h" and str(s.index.tz) == "UTC"
    # the same hours with offsets that do not match them: irregular in UTC
    bad = [f"2024-03-31T0{h}:00:00{'+01:00' if h % 2 else '+02:00'}" for h in range(8)]
    path = csv_with_times(tmp_path, bad, "bad.csv")
    with pytest.raises(DataError, match=r"mixes UTC offsets \(\+02:00, \+01:00\)") as exc:
        loader.load_series(DataConfig(source="csv", path=path))
    assert "off the" not in str(exc.value).split("—")[-1] and "\n" not in str(exc.value)
    assert "write all times in UTC" in str(exc.value)
    result = run("data", "show", "--csv", str(path))
    assert result.exit_code == 2 and "mixes UTC offsets" in result.stderr


def test_times_with_and_without_an_offset_in_one_column_are_rejected(tmp_path):
    times = ["2024-01-01 00:00", "2024-01-01 01:00+01:00", "2024-01-01 02:00"]
    path = csv_with_times(tmp_path, times)
    with pytest.raises(DataError, match="mixes times with a UTC offset .* and times without"):
        loader.load_series(DataConfig(source="csv", path=path))
