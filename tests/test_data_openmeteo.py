"""The Open-Meteo archive adapter against recorded-shape JSON (only ``requests.get`` is faked)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import requests
from fakes import FakeGet, FakeResponse

from forecaster.data.sources import http, openmeteo
from forecaster.errors import ConfigError, DataError, SourceError, SourceUnavailable

GREENSBORO = openmeteo.CITIES["greensboro"]


def hourly_body(times, temps, humidity=None, *, tz="America/New_York", offset=-18000):
    """The archive's JSON for ``hourly=temperature_2m,relative_humidity_2m`` (shape as served)."""
    humidity = humidity if humidity is not None else [80] * len(times)
    return {
        "latitude": 36.060345,
        "longitude": -79.77869,
        "generationtime_ms": 0.61,
        "utc_offset_seconds": offset,
        "timezone": tz,
        "timezone_abbreviation": "GMT-5",
        "elevation": 270.0,
        "hourly_units": {"time": "iso8601", "temperature_2m": "°C", "relative_humidity_2m": "%"},
        "hourly": {"time": times, "temperature_2m": temps, "relative_humidity_2m": humidity},
    }


def iso_hours(start: str, n: int) -> list[str]:
    return [f"{t:%Y-%m-%dT%H:%M}" for t in pd.date_range(start, periods=n, freq="h")]


@pytest.fixture
def no_sleep(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(http, "sleep", slept.append)
    return slept


def fetch(monkeypatch, *responses, **kw):
    fake = FakeGet(*responses)
    monkeypatch.setattr(requests, "get", fake)
    args = {
        "start_date": dt.date(2024, 1, 1),
        "end_date": dt.date(2024, 1, 2),
        "variables": ["temperature_2m", "relative_humidity_2m"],
        **kw,
    }
    return openmeteo.fetch_frame(GREENSBORO, "1h", **args), fake


def test_request_parameters(monkeypatch, no_sleep):
    body = hourly_body(iso_hours("2024-01-01", 48), [5.0] * 48)
    _, fake = fetch(monkeypatch, FakeResponse(body))
    call = fake.calls[0]
    assert call["url"] == "https://archive-api.open-meteo.com/v1/archive"
    assert call["params"] == {
        "latitude": "36.0700",
        "longitude": "-79.7900",
        "start_date": "2024-01-01",
        "end_date": "2024-01-02",
        "hourly": "temperature_2m,relative_humidity_2m",
        "timezone": "America/New_York",
        "wind_speed_unit": "ms",
    }
    connect, read = call["timeout"]
    assert 0 < connect <= 5 and 0 < read <= 10


def test_hourly_times_use_the_fixed_offset_and_the_zone_name(monkeypatch, no_sleep):
    body = hourly_body(iso_hours("2024-01-01", 48), list(np.linspace(0, 5, 48)))
    frame, _ = fetch(monkeypatch, FakeResponse(body))
    assert str(frame.index.tz) == "America/New_York"
    assert frame.index[0].tz_convert("UTC") == pd.Timestamp("2024-01-01 05:00", tz="UTC")
    assert frame.attrs["units"] == {"temperature_2m": "°C", "relative_humidity_2m": "%"}
    # the API applies today's offset to every row, even across a clock change: still one hour apart
    spring = hourly_body(iso_hours("2024-03-10 00:00", 6), [1.0] * 6, offset=-14400)
    frame, _ = fetch(monkeypatch, FakeResponse(spring))
    assert (np.diff(frame.index.asi8) == 3_600_000_000_000).all()
    assert frame.index[0].tz_convert("UTC") == pd.Timestamp("2024-03-10 04:00", tz="UTC")


def test_timezone_auto_uses_the_response_zone(monkeypatch, no_sleep):
    body = hourly_body(iso_hours("2024-01-01", 24), [1.0] * 24, tz="Europe/Berlin", offset=3600)
    frame, fake = fetch(monkeypatch, FakeResponse(body), timezone="auto")
    assert fake.calls[0]["params"]["timezone"] == "auto"
    assert str(frame.index.tz) == "Europe/Berlin"
    assert frame.index[0] == pd.Timestamp("2024-01-01 00:00", tz="Europe/Berlin")


def test_nulls_become_nan_trailing_trimmed_short_gaps_filled(monkeypatch, no_sleep):
    temps = list(np.linspace(0, 5, 48))
    temps[10] = None  # a short gap inside the span
    temps[-6:] = [None] * 6  # the archive's newest hours, not yet available
    frame, _ = fetch(monkeypatch, FakeResponse(hourly_body(iso_hours("2024-01-01", 48), temps)))
    assert frame["temperature_2m"].isna().sum() == 7
    s = openmeteo.to_series(frame, "greensboro", "1h", max_gap=3)
    assert len(s) == 42 and s.target == "temperature_2m" and s.freq == "h"
    assert s.units["temperature_2m"] == "°C"
    assert any("trimmed 6" in n for n in s.notes) and any("forward-filled 1" in n for n in s.notes)
    temps[20:30] = [None] * 10
    frame, _ = fetch(monkeypatch, FakeResponse(hourly_body(iso_hours("2024-01-01", 48), temps)))
    with pytest.raises(DataError, match="gap of 10 missing steps"):
        openmeteo.to_series(frame, "greensboro", "1h", max_gap=3)


def test_daily_rows_are_local_midnights(monkeypatch, no_sleep):
    days = [f"2024-01-{d:02d}" for d in range(1, 11)]
    body = {
        "latitude": 47.6,
        "longitude": -122.3,
        "utc_offset_seconds": -28800,
        "timezone": "America/Los_Angeles",
        "daily_units": {"time": "iso8601", "temperature_2m_max": "°C", "precipitation_sum": "mm"},
        "daily": {
            "time": days,
            "temperature_2m_max": [8.1, 7.9, 9.4, 10.2, 6.3, 5.5, 7.0, 8.8, 9.9, 10.5],
            "precipitation_sum": [0.0, 2.1, 5.4, 0.3, 0.0, 0.0, 1.2, 0.0, 0.0, 3.3],
        },
    }
    monkeypatch.setattr(requests, "get", FakeGet(FakeResponse(body)))
    frame = openmeteo.fetch_frame(
        openmeteo.CITIES["seattle"],
        "1d",
        ["temperature_2m_max", "precipitation_sum"],
        start_date=dt.date(2024, 1, 1),
        end_date=dt.date(2024, 1, 10),
    )
    assert frame.index[0] == pd.Timestamp("2024-01-01", tz="America/Los_Angeles")
    s = openmeteo.to_series(frame, "seattle", "1d")
    assert (
        s.freq == "D" and s.target == "temperature_2m_max" and s.units["precipitation_sum"] == "mm"
    )


def test_error_body_is_a_one_line_source_error_and_not_retried(monkeypatch, no_sleep):
    reason = (
        "Cannot initialize WeatherVariable from invalid String value tempeture_2m for key hourly"
    )
    with pytest.raises(SourceError) as exc:
        fetch(monkeypatch, FakeResponse({"error": True, "reason": reason}, status=400))
    assert not isinstance(exc.value, SourceUnavailable)
    assert str(exc.value) == f"Open-Meteo rejected the request: {reason}"
    assert no_sleep == []


def test_server_errors_and_timeouts_are_retried_then_unavailable(monkeypatch, no_sleep):
    body = hourly_body(iso_hours("2024-01-01", 24), [1.0] * 24)
    frame, fake = fetch(monkeypatch, FakeResponse({"error": True}, status=503), FakeResponse(body))
    assert len(frame) == 24 and len(fake.calls) == 2 and no_sleep == [1.0]
    no_sleep.clear()
    with pytest.raises(
        SourceUnavailable, match=r"Open-Meteo unreachable \(HTTP 429 from Open-Meteo\)"
    ):
        fetch(monkeypatch, FakeResponse({}, status=429))
    assert no_sleep == [1.0, 2.0]
    with pytest.raises(SourceUnavailable, match="ReadTimeout"):
        fetch(monkeypatch, requests.ReadTimeout("read timed out"))


def test_missing_variable_in_answer_is_an_error(monkeypatch, no_sleep):
    body = hourly_body(iso_hours("2024-01-01", 24), [1.0] * 24)
    del body["hourly"]["relative_humidity_2m"]
    with pytest.raises(SourceError, match="without variable"):
        fetch(monkeypatch, FakeResponse(body))


def test_places():
    assert openmeteo.resolve_place("Greensboro") == GREENSBORO
    assert openmeteo.resolve_place("New York").name == "new_york"
    assert (GREENSBORO.latitude, GREENSBORO.longitude) == (36.07, -79.79)
    place = openmeteo.resolve_place(None, 35.0712, -79.79)
    assert place.name == "35.07_-79.79" and place.tz is None
    with pytest.raises(ConfigError) as exc:
        openmeteo.resolve_place("atlantis")
    assert "greensboro" in str(exc.value) and "seattle" in str(exc.value)
    assert "--lat/--lon" in str(exc.value)


def test_default_span_and_interval():
    today = dt.date(2026, 11, 23)
    assert openmeteo.default_span("1h", today=today) == (
        dt.date(2024, 11, 21),
        dt.date(2026, 11, 21),
    )
    start, end = openmeteo.default_span("1d", today=today)
    assert end == dt.date(2026, 11, 21) and (end - start).days == 3650
    # the config's end is exclusive; the API's end_date inclusive
    assert openmeteo.default_span("1h", dt.date(2020, 1, 1), dt.date(2020, 2, 1), today) == (
        dt.date(2020, 1, 1),
        dt.date(2020, 1, 31),
    )
    with pytest.raises(SourceError, match="archive has data up to 2026-11-21"):
        openmeteo.default_span("1h", dt.date(2026, 11, 22), today=today)
    with pytest.raises(ConfigError, match="use 1h .* or 1d"):
        openmeteo.check_interval("15m")
