"""Weather forecasts as inputs known ahead, against recorded-shape JSON of the Previous Runs and
Forecast APIs (only ``requests.get`` is faked; sockets stay blocked)."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from fakes import FakeGet, FakeResponse

from forecaster.data.series import validate
from forecaster.data.sources import http, openmeteo
from forecaster.data.sources import weather_forecasts as wf
from forecaster.errors import ConfigError, DataError, SourceUnavailable

FIXTURES = Path(__file__).parent / "fixtures" / "open_meteo_forecast"
GREENSBORO = openmeteo.CITIES["greensboro"]
TZ = "America/New_York"
VARS = ["temperature_2m", "wind_speed_10m"]


def recorded(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text("utf-8"))


MARCH_1_3 = "previous_runs_day1_2024-03-01_03.json"
MARCH_4_5 = "previous_runs_day1_2024-03-04_05.json"
FORECAST = "forecast_2024-03-06_07.json"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(http, "sleep", lambda s: None)


def fake(monkeypatch, *responses) -> FakeGet:
    get = FakeGet(*responses)
    monkeypatch.setattr(requests, "get", get)
    return get


def with_lead(body: dict, lead: int) -> dict:
    """The recorded day-1 answer as the answer for ``_previous_day<lead>`` (only names change)."""
    body = copy.deepcopy(body)
    for block in ("hourly", "hourly_units"):
        body[block] = {
            k.replace("_previous_day1", f"_previous_day{lead}"): v for k, v in body[block].items()
        }
    return body


def ok(name_or_body) -> FakeResponse:
    body = recorded(name_or_body) if isinstance(name_or_body, str) else name_or_body
    return FakeResponse(body)


def hourly_series(start="2024-03-01 00:00", end="2024-03-02 23:00"):
    """Observed hourly Greensboro temperature on local (New York) stamps."""
    index = pd.date_range(start, end, freq="h", tz=TZ, name="time")
    temps = 5 + np.sin(np.arange(len(index)) / 24 * 2 * np.pi)
    return validate(
        pd.DataFrame({"temperature_2m": temps}, index=index),
        "temperature_2m",
        freq="h",
        source="open-meteo",
        symbol="greensboro",
    )


def daily_series(start="2024-03-01", end="2024-03-03"):
    index = pd.date_range(start, end, freq="D", tz=TZ, name="time")
    return validate(
        pd.DataFrame({"temperature_2m_max": np.linspace(10, 12, len(index))}, index=index),
        "temperature_2m_max",
        freq="D",
        source="open-meteo",
        symbol="greensboro",
    )


def recorded_at(body: dict, variable: str, stamps: pd.DatetimeIndex) -> np.ndarray:
    """The recorded values of ``variable`` at ``stamps`` (the body's times are GMT)."""
    times = pd.DatetimeIndex(pd.to_datetime(body["hourly"]["time"])).tz_localize("UTC")
    values = pd.Series(body["hourly"][variable], index=times, dtype=float)
    return values.reindex(stamps.tz_convert("UTC")).to_numpy()


def test_issued_parses_previous_runs_into_forecast_columns_on_local_stamps(monkeypatch):
    get = fake(monkeypatch, ok(MARCH_1_3))
    series = hourly_series()
    out = wf.issued(series, GREENSBORO, VARS, 1)
    assert (
        get.calls[0]["url"]
        == wf.PREVIOUS_RUNS_URL
        == ("https://previous-runs-api.open-meteo.com/v1/forecast")
    )
    assert get.calls[0]["params"] == {
        "latitude": "36.0700",
        "longitude": "-79.7900",
        # local 2024-03-01 00:00 .. 03-02 23:00 EST is 05:00 UTC on the 1st .. 04:00 on the 3rd
        "start_date": "2024-03-01",
        "end_date": "2024-03-03",
        "hourly": "temperature_2m_previous_day1,wind_speed_10m_previous_day1",
        "timezone": "GMT",
        "wind_speed_unit": "ms",
    }
    assert list(out.columns) == ["forecast_temperature_2m", "forecast_wind_speed_10m"]
    assert wf.forecast_column("temperature_2m") == "forecast_temperature_2m"
    assert out.index.equals(series.index) and str(out.index.tz) == TZ
    body = recorded(MARCH_1_3)
    np.testing.assert_allclose(
        out["forecast_temperature_2m"], recorded_at(body, "temperature_2m_previous_day1", out.index)
    )
    # the first local row (midnight EST) is the answer's 05:00 GMT value
    assert out.iloc[0, 0] == body["hourly"]["temperature_2m_previous_day1"][5]
    assert out.attrs["units"] == {"forecast_temperature_2m": "°C", "forecast_wind_speed_10m": "m/s"}


@pytest.mark.parametrize(
    ("horizon", "freq", "days"),
    [(24, "h", 1), (25, "h", 2), (48, "h", 2), (1, "D", 1), (3, "D", 3), (1, "1h", 1)],
)
def test_lead_days(horizon, freq, days):
    assert wf.lead_days(horizon, freq) == days


def test_lead_days_margin_and_limits():
    assert wf.lead_days(24, "h", margin_hours=6) == 2  # a run published up to 6 h after its start
    assert wf.lead_days(18, "h", margin_hours=6) == 1
    assert wf.lead_days(7, "D") == 7
    with pytest.raises(ConfigError, match="up to 7 days"):
        wf.lead_days(8, "D")
    with pytest.raises(ConfigError, match="hourly or daily"):
        wf.lead_days(3, "B")


def test_cached_second_call_makes_no_request_and_an_extended_series_fetches_the_tail(monkeypatch):
    get = fake(monkeypatch, ok(MARCH_1_3))
    first = wf.issued(hourly_series(), GREENSBORO, VARS, 1)
    assert len(get.calls) == 1
    again = wf.issued(hourly_series(), GREENSBORO, VARS, 1)
    assert len(get.calls) == 1
    pd.testing.assert_frame_equal(first, again)

    longer = hourly_series(end="2024-03-04 23:00")  # ends 04:00 UTC on the 5th
    get.responses = [ok(MARCH_4_5)]
    out = wf.issued(longer, GREENSBORO, VARS, 1)
    assert len(get.calls) == 2
    assert (get.calls[1]["params"]["start_date"], get.calls[1]["params"]["end_date"]) == (
        "2024-03-04",
        "2024-03-05",
    )
    assert out.notna().all().all()
    tail = recorded(MARCH_4_5)
    late = out.index[out.index >= pd.Timestamp("2024-03-04", tz="UTC")]
    np.testing.assert_allclose(
        out.loc[late, "forecast_wind_speed_10m"],
        recorded_at(tail, "wind_speed_10m_previous_day1", late),
    )
    # another lead is another file
    get.responses = [ok(with_lead(recorded(MARCH_1_3), 2))]
    wf.issued(hourly_series(), GREENSBORO, ["temperature_2m"], 2)
    assert len(get.calls) == 3


def test_a_transient_error_is_retried_then_succeeds(monkeypatch):
    get = fake(
        monkeypatch,
        FakeResponse({"error": True, "reason": "busy"}, status=503),
        requests.ConnectionError("reset"),
        ok(MARCH_1_3),
    )
    out = wf.issued(hourly_series(), GREENSBORO, VARS, 1)
    assert len(get.calls) == 3 and out.notna().all().all()


def test_offline_without_cache_warns_and_leaves_the_series_unchanged(monkeypatch, caplog):
    get = fake(monkeypatch, requests.ConnectionError("Failed to resolve 'previous-runs-api'"))
    series = hourly_series()
    with caplog.at_level(logging.WARNING):
        out, columns = wf.attach(series, GREENSBORO, VARS, 24, predict=False)
    assert out is series and columns == []
    assert len(get.calls) == http.TRIES
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING][-1]
    assert warning.startswith("weather forecasts unavailable (Open-Meteo Previous Runs API")
    assert warning.endswith("— fitting without forecast inputs")
    # --offline never asks
    get.calls.clear()
    out, columns = wf.attach(series, GREENSBORO, VARS, 24, predict=False, offline=True)
    assert out is series and columns == [] and get.calls == []


def test_offline_with_cache_uses_the_cached_values(monkeypatch, caplog):
    fake(monkeypatch, ok(MARCH_1_3))
    fresh, columns = wf.attach(hourly_series(), GREENSBORO, VARS, 24, predict=False)
    # two rows more (to 01:00 UTC on the 4th): the cache lacks March 4, the network is down
    series = hourly_series(end="2024-03-03 20:00")
    get = fake(monkeypatch, requests.ConnectionError("network down"))
    with caplog.at_level(logging.WARNING):
        stale, again = wf.attach(series, GREENSBORO, VARS, 24, predict=False)
    assert again == columns == ["forecast_temperature_2m", "forecast_wind_speed_10m"]
    assert len(get.calls) == http.TRIES
    assert stale.index.equals(series.index)
    pd.testing.assert_frame_equal(stale.frame.loc[fresh.index, columns], fresh.frame[columns])
    cached_last = recorded(MARCH_1_3)["hourly"]["temperature_2m_previous_day1"][-1]
    assert (stale.frame["forecast_temperature_2m"].iloc[-2:] == cached_last).all()  # ffilled
    assert any("may be stale" in r.getMessage() for r in caplog.records)
    with pytest.raises(SourceUnavailable):  # refresh=False is the cache alone
        wf.issued(series, GREENSBORO, ["wind_speed_10m"], 1, refresh=False)


def test_upcoming_is_the_live_forecast_of_the_stamps_after_the_end(monkeypatch):
    get = fake(monkeypatch, ok(FORECAST))
    series = hourly_series(end="2024-03-05 19:00")  # 00:00 UTC on the 6th
    out = wf.upcoming(series, GREENSBORO, VARS, 24)
    assert get.calls[0]["url"] == wf.FORECAST_URL == "https://api.open-meteo.com/v1/forecast"
    params = get.calls[0]["params"]
    assert params["hourly"] == "temperature_2m,wind_speed_10m"
    assert (params["start_date"], params["end_date"]) == ("2024-03-06", "2024-03-07")
    assert len(out) == 24 and str(out.index.tz) == TZ
    assert out.index[0] == pd.Timestamp("2024-03-05 20:00", tz=TZ)
    assert out.index[-1] == pd.Timestamp("2024-03-06 19:00", tz=TZ)
    np.testing.assert_allclose(
        out["forecast_temperature_2m"], recorded_at(recorded(FORECAST), "temperature_2m", out.index)
    )
    fake(monkeypatch, requests.ConnectTimeout("timed out"))
    with pytest.raises(SourceUnavailable, match="Open-Meteo Forecast API unreachable"):
        wf.upcoming(series, GREENSBORO, VARS, 24)


def test_attach_adds_columns_and_with_predict_the_values_ahead(monkeypatch):
    fake(monkeypatch, ok(MARCH_1_3))
    wf.issued(hourly_series(), GREENSBORO, VARS, 1)  # cached: March 1 .. 3
    series = hourly_series(end="2024-03-05 19:00")  # 00:00 UTC on the 6th
    get = fake(monkeypatch, ok(MARCH_4_5), ok(FORECAST))
    out, columns = wf.attach(series, GREENSBORO, VARS, 24, predict=True)
    assert [c["url"] for c in get.calls] == [wf.PREVIOUS_RUNS_URL, wf.FORECAST_URL]
    # the recorded tail ends at 23:00 UTC on the 5th: the last row is forward-filled (1 <= max_gap)
    assert "weather forecasts: forward-filled the last 1 rows" in out.notes
    assert columns == ["forecast_temperature_2m", "forecast_wind_speed_10m"]
    assert list(out.frame.columns) == ["temperature_2m", *columns]
    assert out.index.equals(series.index) and out.frame.notna().all().all()
    assert out.units["forecast_temperature_2m"] == "°C"
    assert out.ahead is not None and list(out.ahead.columns) == columns
    assert out.ahead.index[0] == series.end + pd.Timedelta(hours=1) and len(out.ahead) == 24


def test_attach_trims_a_leading_run_without_forecasts_and_fills_short_gaps(monkeypatch, caplog):
    body = recorded(MARCH_1_3)
    values = body["hourly"]["temperature_2m_previous_day1"]
    values[:10] = [None] * 10  # 00..09 GMT: the series' first 5 hours (05..09 GMT) have none
    values[30:32] = [None, None]  # a 2-hour gap inside
    fake(monkeypatch, ok(body))
    series = hourly_series()
    with caplog.at_level(logging.INFO):
        out, _ = wf.attach(series, GREENSBORO, VARS, 24, predict=False)
    assert len(out) == len(series) - 5 and out.start == series.index[5]
    assert out.frame.notna().all().all()
    assert any("trimmed 5 leading rows" in n for n in out.notes)
    assert any("forward-filled 2 missing values" in n for n in out.notes)
    assert any("trimmed 5 leading rows" in r.getMessage() for r in caplog.records)


def test_attach_a_long_gap_or_no_forecast_at_all_is_a_one_line_error(monkeypatch):
    body = recorded(MARCH_1_3)
    body["hourly"]["wind_speed_10m_previous_day1"][20:26] = [None] * 6
    fake(monkeypatch, ok(body))
    with pytest.raises(DataError, match="gap of 6 missing steps") as err:
        wf.attach(hourly_series(), GREENSBORO, VARS, 24, predict=False)
    assert "\n" not in str(err.value)
    empty = copy.deepcopy(recorded(MARCH_1_3))
    empty["hourly"]["temperature_2m_previous_day1"] = [None] * 72
    fake(monkeypatch, ok(with_lead(empty, 2)))
    with pytest.raises(DataError, match="no issued weather forecasts.*January 2024"):
        wf.attach(hourly_series(), GREENSBORO, ["temperature_2m"], 48, predict=False)


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.pop("hourly"),
        lambda b: b["hourly"].pop("temperature_2m_previous_day1"),
        lambda b: b["hourly"]["wind_speed_10m_previous_day1"].pop(),
        lambda b: b["hourly"]["time"].__setitem__(3, "yesterday"),
        lambda b: b["hourly"]["temperature_2m_previous_day1"].__setitem__(3, "warm"),
    ],
)
def test_a_malformed_answer_is_a_one_line_data_error_naming_the_api(monkeypatch, change):
    body = recorded(MARCH_1_3)
    change(body)
    get = fake(monkeypatch, ok(body))
    with pytest.raises(DataError, match="^Open-Meteo Previous Runs API answered") as err:
        wf.issued(hourly_series(), GREENSBORO, VARS, 1)
    assert "\n" not in str(err.value) and len(get.calls) == 1  # not retried


def test_an_error_body_names_the_api(monkeypatch):
    fake(monkeypatch, FakeResponse({"error": True, "reason": "Cannot initialize ..."}, 400))
    with pytest.raises(Exception, match="Open-Meteo Previous Runs API rejected the request"):
        wf.issued(hourly_series(), GREENSBORO, ["no_such_variable"], 1)


def test_daily_inputs_are_derived_from_hourly_issued_values_per_local_day(monkeypatch):
    body = recorded(MARCH_1_3)  # GMT hours of March 1..3; the days need March 1 .. 4 05:00
    tail = recorded(MARCH_4_5)
    for key in ("time", "temperature_2m_previous_day1", "wind_speed_10m_previous_day1"):
        body["hourly"][key] += tail["hourly"][key][:24]
    body = with_lead(body, 3)
    get = fake(monkeypatch, ok(body))
    series = daily_series()
    out = wf.issued(
        series, (GREENSBORO.latitude, GREENSBORO.longitude, TZ), ["temperature_2m_max"], 3
    )
    params = get.calls[0]["params"]
    assert params["hourly"] == "temperature_2m_previous_day3"
    assert (params["start_date"], params["end_date"]) == ("2024-03-01", "2024-03-04")
    assert out.index.equals(series.index) and list(out.columns) == ["forecast_temperature_2m_max"]
    day = pd.date_range("2024-03-02 00:00", periods=24, freq="h", tz=TZ)
    hours = recorded_at(body, "temperature_2m_previous_day3", day)
    assert out.loc[pd.Timestamp("2024-03-02", tz=TZ), "forecast_temperature_2m_max"] == hours.max()
    assert out.attrs["units"] == {"forecast_temperature_2m_max": "°C"}
    with pytest.raises(ConfigError, match="cannot be derived"):
        wf.issued(series, GREENSBORO, ["weather_code"], 3)
