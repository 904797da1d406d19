"""The Source protocol: a new source is one class plus one registry line, and the loader's whole
path (cache, incremental refresh, identity check, fallback, offline) works for it unchanged.

``Synthetic`` below is such a source, defined only here: a generator of a daily sine wave up to a
movable "today", so the test needs no network. Nothing in forecaster/data/loader.py knows it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from forecaster.config import DataConfig
from forecaster.data import cache, loader, sources
from forecaster.data.series import validate
from forecaster.data.sources import base, http
from forecaster.errors import ConfigError, SourceUnavailable
from forecaster.settings import paths


class Synthetic:
    """A live source: ``value`` = 10 + sin(day / 7) at midnight UTC of every day up to ``today``."""

    name = "synthetic"
    title = "Synthetic waves"
    live = True

    def __init__(self):
        self.today = pd.Timestamp("2024-03-01", tz="UTC")
        self.down = False
        self.asked: list[pd.Timestamp] = []

    def resolve(self, cfg: DataConfig) -> base.Request:
        label = cfg.symbol or "wave"
        name = cache.safe_key(label)
        return base.Request(
            source=self.name,
            name=name,
            label=label,
            interval="1d",
            key=base.series_key(self.name, name, "1d"),
            target="value",
            columns=None,
            flag=f"data.symbol: {label}",
            identity={"source": self.name, "symbol": label, "interval": "1d"},
            fetch_columns=("value",),
        )

    def covers(self, cached, req, cfg, *, need_end: bool) -> bool:
        return not need_end or cached.last_complete >= self.today

    def fetch(self, req, cfg, cached) -> base.Fetched:
        if self.down:
            raise http.Unreachable(self.title, "generator switched off", 1)
        start = pd.Timestamp("2024-01-01", tz="UTC")
        if base.resumable(cached, None):
            start = cached.last_complete + pd.Timedelta(days=1)
        self.asked.append(start)
        index = pd.date_range(start, self.today, freq="D", name="time")
        days = (index - pd.Timestamp("2024-01-01", tz="UTC")).days.to_numpy(dtype=float)
        frame = pd.DataFrame({"value": 10 + np.sin(days / 7)}, index=index)
        merged = cache.merge(cached.frame, frame) if cached is not None else frame
        before = cached.frame if cached is not None else None
        return base.Fetched(merged, {"covers_from": None}, base.new_rows(before, merged))

    def to_series(self, frame, meta, req, cfg, *, origin: str):
        return validate(
            base.slice_span(frame, cfg, f"{req.label} data"),
            "value",
            freq="D",
            source=origin,
            symbol=req.label,
            units={"value": "m"},
            **base.clean_options(cfg),
        )


@pytest.fixture
def synthetic(monkeypatch):
    source = Synthetic()
    monkeypatch.setitem(sources.SOURCES, source.name, source)  # the one registry line
    monkeypatch.setattr(logging.getLogger("forecaster"), "propagate", True)
    return source


def wave(**kw) -> DataConfig:
    return DataConfig(**{"source": "synthetic", "symbol": "wave", **kw})


def test_a_new_source_is_fetched_cached_and_refreshed_by_the_unchanged_loader(synthetic):
    got = loader.load(wave())
    assert got.origin == "live" and got.series.source == "synthetic" and len(got.series) == 61
    assert got.series.units == {"value": "m"} and got.series.freq == "D"
    assert loader.series_key(wave()) == "synthetic-wave-1d"
    path = paths().cache / "synthetic" / "wave_1d.parquet"
    assert got.cache_file == loader.cache_file(wave()) == path and path.is_file()
    assert cache.read(path).meta["symbol"] == "wave"  # the identity the loader stores

    synthetic.today += pd.Timedelta(days=5)
    again = loader.load(wave())
    assert again.new_rows == 5 and len(again.series) == 66
    assert synthetic.asked[-1] == pd.Timestamp("2024-03-02", tz="UTC")  # resumed, not refetched
    assert loader.load(wave()).origin == "cache"  # covered: no fetch
    assert len(synthetic.asked) == 2


def test_a_new_source_falls_back_to_its_cache_and_works_offline(synthetic, caplog):
    loader.load(wave())
    synthetic.down = True
    synthetic.today += pd.Timedelta(days=3)
    with caplog.at_level(logging.WARNING, logger="forecaster"):
        got = loader.load(wave())
    assert got.origin == "cache" and len(got.series) == 61
    assert (
        "Synthetic waves unreachable (generator switched off); using cached wave data up to "
        in (caplog.text)
    )
    assert loader.load(wave(offline=True)).series.source == "cache"
    with pytest.raises(SourceUnavailable, match="nothing fetched; offline runs use the cached"):
        loader.fetch(wave())
    with pytest.raises(SourceUnavailable, match="no usable cached or bundled other 1d data"):
        loader.load(wave(symbol="other"))


def test_unknown_source_names_the_registered_ones():
    with pytest.raises(ConfigError, match="unknown data source 'nope' — use yahoo, open-meteo"):
        loader.load(DataConfig(source="nope"))


def test_every_registered_source_implements_the_protocol():
    for name, source in sources.SOURCES.items():
        assert source.name == name and isinstance(source.live, bool) and source.title
        for method in ("resolve", "covers", "fetch", "to_series"):
            assert callable(getattr(source, method)), (name, method)
