"""``forecast fit --city ... --weather-forecasts temperature_2m`` end to end, against fakes of the
three Open-Meteo endpoints that answer in the recorded shape (only ``requests.get`` is faked).

The fake weather is a slow random wander plus a daily cycle; the archive answers the truth, the
Previous Runs API the truth plus a small forecast error, and the Forecast API likewise for the
steps ahead. A model that reads the issued forecast has most of each step's answer.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import requests
from click.testing import CliRunner

from forecaster import api
from forecaster.cli import cli
from forecaster.data.sources import http
from forecaster.data.sources import weather_forecasts as wf
from forecaster.errors import SourceUnavailable
from forecaster.forecast_inputs import PUBLISH_MARGIN_HOURS

EPOCH = pd.Timestamp("2023-12-01")  # UTC hour 0 of the fake weather
HOURS = 24 * 140
_rng = np.random.default_rng(7)
_WANDER = np.convolve(np.cumsum(_rng.normal(size=HOURS)), np.ones(12) / 12, mode="same")
_ERROR = 0.3 * _rng.normal(size=HOURS)


def truth(hours: np.ndarray) -> np.ndarray:
    return 8.0 + 6.0 * np.sin(2 * np.pi * (hours - 9) / 24) + 0.8 * _WANDER[hours]


class FakeOpenMeteo:
    """``requests.get`` stand-in for the archive, the Previous Runs and the Forecast APIs."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.down: set[str] = set()

    def __call__(self, url, params=None, timeout=None):
        self.calls.append((url, dict(params)))
        if any(url.startswith(d) for d in self.down):
            raise requests.ConnectionError("network unreachable")
        gmt = params.get("timezone") == "GMT"
        offset = 0 if gmt else -5  # the fake spans winter only: EST
        start = pd.Timestamp(params["start_date"])
        times = pd.date_range(
            start, pd.Timestamp(params["end_date"]) + pd.Timedelta(hours=23), freq="h"
        )
        hours = ((times - pd.Timedelta(hours=offset)) - EPOCH) // pd.Timedelta("1h")
        hours = np.clip(hours.to_numpy(), 0, HOURS - 1)
        block = {"time": [f"{t:%Y-%m-%dT%H:%M}" for t in times]}
        issued = url != openmeteo_archive()
        for name in params["hourly"].split(","):
            values = truth(hours) + (_ERROR[hours] if issued else 0.0)
            block[name] = np.round(values, 2).tolist()
        body = {
            "latitude": float(params["latitude"]),
            "longitude": float(params["longitude"]),
            "utc_offset_seconds": offset * 3600,
            "timezone": "GMT" if gmt else "America/New_York",
            "hourly_units": {"time": "iso8601", **{n: "°C" for n in params["hourly"].split(",")}},
            "hourly": block,
        }
        response = requests.Response()
        response.status_code = 200
        response._content = pd.io.json.ujson_dumps(body).encode()
        return response


def openmeteo_archive() -> str:
    from forecaster.data.sources.openmeteo import ARCHIVE_URL

    return ARCHIVE_URL


@pytest.fixture
def weather(monkeypatch):
    fake = FakeOpenMeteo()
    monkeypatch.setattr(requests, "get", fake)
    monkeypatch.setattr(http, "sleep", lambda s: None)
    return fake


FLAGS = [
    "--city", "greensboro", "--interval", "1h", "--start", "2024-01-01", "--end", "2024-03-01",
    "--lookback", "48", "--horizon", "24", "--hidden-size", "16", "--layers", "1",
    "--epochs", "3", "--no-progress",
]  # fmt: skip


def fit_config(**over):
    overrides = {
        "data.interval": "1h",
        "data.start": "2024-01-01",
        "data.end": "2024-03-01",
        "data.weather_forecasts": ["temperature_2m"],
        "model.lookback": 48,
        "model.horizon": 24,
        "model.hidden_size": 16,
        "model.num_layers": 1,
        "train.max_epochs": 12,
        "train.learning_rate": 0.01,
        "train.progress_bar": False,
    }
    return api.make_config(city="greensboro", overrides=overrides | over)


def test_fit_reads_forecasts_as_issued_before_each_origin_and_predict_the_live_one(weather):
    fit = api.fit(fit_config())
    fitted = fit.model
    assert fitted.spec.future == ("forecast_temperature_2m",)
    assert fitted.config.data.weather_forecasts == ["temperature_2m"]
    # issued at least horizon + the publishing margin before each step: never a later run
    lead = wf.lead_days(24, "h", margin_hours=PUBLISH_MARGIN_HOURS)
    assert lead == 2
    runs = [p for url, p in weather.calls if url == wf.PREVIOUS_RUNS_URL]
    assert runs and all(p["hourly"] == f"temperature_2m_previous_day{lead}" for p in runs)
    best = fit.table.drop(index="gru")["mae"].min()
    assert fit.table.loc["gru", "mae"] < 0.7 * best, fit.table

    result = CliRunner().invoke(
        cli, ["predict", "--city", "greensboro", "--interval", "1h", "--end", "2024-03-01"]
    )
    assert result.exit_code == 0, result.output
    assert any(url == wf.FORECAST_URL for url, _ in weather.calls)

    weather.down.add(wf.FORECAST_URL)
    result = CliRunner().invoke(
        cli, ["predict", "--city", "greensboro", "--interval", "1h", "--end", "2024-03-01"]
    )
    assert result.exit_code != 0
    message = result.output.strip().splitlines()[-1]
    assert "weather forecasts of temperature_2m" in message and "Traceback" not in result.output


def test_without_network_or_cache_the_fit_falls_back_with_a_warning(weather, caplog):
    weather.down.add(wf.PREVIOUS_RUNS_URL)
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(cli, ["fit", *FLAGS, "--weather-forecasts", "temperature_2m"])
    assert result.exit_code == 0, result.output
    assert "fitting without forecast inputs" in caplog.text + result.output, result.output
    fitted, _ = api.load_model(
        api.make_config(city="greensboro", overrides={"data.interval": "1h"})
    )
    assert fitted.spec.future == () and fitted.config.data.weather_forecasts == []


def test_weather_forecasts_need_a_weather_place(weather):
    result = CliRunner().invoke(
        cli, ["fit", "--ticker", "AAPL", "--offline", "--weather-forecasts", "temperature_2m"]
    )
    assert result.exit_code != 0
    assert "needs one weather place" in result.output and "Traceback" not in result.output


def test_a_live_forecast_outage_is_a_source_error():
    assert issubclass(http.Unreachable, SourceUnavailable)
