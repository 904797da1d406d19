"""Recorded-shape stand-ins for the network boundary (``yfinance.Ticker``, ``requests.get``),
shared by the data tests: they answer the span each call asks for, as the services do."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import requests

NY = "America/New_York"


def bars(start, end, scale=1.0) -> pd.DataFrame:
    """Ticker.history(auto_adjust=True) shape: trading days [start, end), Open..Volume."""
    idx = pd.bdate_range(start, pd.Timestamp(end) - pd.Timedelta(days=1), name="Date").tz_localize(
        NY
    )
    day = (idx.tz_localize(None) - pd.Timestamp("2024-01-01")).days.to_numpy(dtype=float)
    close = (150.0 + 0.25 * day) * scale
    return pd.DataFrame(
        {
            "Open": close - 0.5,
            "High": close + 1.0,
            "Low": close - 1.0,
            "Close": close,
            "Volume": 5e7,
        },
        index=idx,
    )


class FakeYahoo:
    """``yfinance.Ticker`` stand-in serving bars up to ``today`` for the span each call asks for."""

    def __init__(self, today="2024-03-09", scale=1.0, fail=None):
        self.today, self.scale, self.fail = today, scale, fail
        self.calls: list[dict] = []

    def Ticker(self, symbol):  # noqa: N802 - mirrors yfinance
        fake = self

        class _Ticker:
            def history(self, **kw):
                fake.calls.append(kw)
                if fake.fail is not None:
                    if isinstance(fake.fail, BaseException):
                        raise fake.fail
                    return fake.fail.copy()
                start = kw.get("start") or dt.date(2024, 1, 1)
                end = kw.get("end") or pd.Timestamp(fake.today) + pd.Timedelta(days=1)
                frame = bars(start, end, fake.scale)
                return frame.loc[frame.index.tz_localize(None) <= pd.Timestamp(fake.today)]

            def get_history_metadata(self):
                return {"currency": "USD", "exchangeTimezoneName": NY}

        return _Ticker()


class FakeArchive:
    """``requests.get`` stand-in: hourly values for the asked dates; null after ``available``
    (the archive's lag: its newest hours are not there yet)."""

    def __init__(self):
        self.calls: list[dict] = []
        self.fail: BaseException | None = None
        self.available = pd.Timestamp("2024-01-10 18:00")

    def __call__(self, url, params=None, timeout=None):
        self.calls.append(dict(params))
        if self.fail is not None:
            raise self.fail
        start = pd.Timestamp(params["start_date"])
        end = pd.Timestamp(params["end_date"]) + pd.Timedelta(hours=23)
        times = pd.date_range(start, end, freq="h")
        hours = (times - pd.Timestamp("2024-01-01")) / pd.Timedelta("1h")
        variables = params["hourly"].split(",")
        block = {"time": [f"{t:%Y-%m-%dT%H:%M}" for t in times]}
        for i, v in enumerate(variables):
            values = np.round(10 + i + 5 * np.sin(hours.to_numpy() / 24 * 2 * np.pi), 1)
            block[v] = [
                None if t > self.available else x
                for t, x in zip(times, values.tolist(), strict=True)
            ]
        body = {
            "utc_offset_seconds": -18000,
            "timezone": "America/New_York",
            "hourly_units": {v: "°C" for v in variables},
            "hourly": block,
        }
        response = requests.Response()
        response.status_code = 200
        response._content = pd.io.json.ujson_dumps(body).encode()
        return response


class FakeResponse:
    """A ``requests`` response with a JSON ``body`` (an exception body raises from ``json()``)."""

    def __init__(self, body, status=200):
        self.body, self.status_code = body, status

    def json(self):
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


class FakeGet:
    """``requests.get`` stand-in: answers ``responses`` in turn (the last one again), raises an
    exception given as one, and records each call's url, params and timeout."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.calls: list[dict] = []

    def __call__(self, url, params=None, timeout=None):
        self.calls.append({"url": url, "params": dict(params), "timeout": timeout})
        r = self.responses[min(len(self.calls), len(self.responses)) - 1]
        if isinstance(r, BaseException):
            raise r
        return r
