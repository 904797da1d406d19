"""The Source protocol: a new source is one class plus one registry line, and the loader's whole
path (cache, incremental refresh, identity check, fallback, offline) works for it unchanged, as do
config resolution and the command line, which read its declaration.

``Synthetic`` below is such a source, defined only here: a generator of a daily sine wave up to a
movable "today", so the test needs no network. Nothing in forecaster/data/loader.py, config.py,
config_resolve.py or cli/ knows it.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import forecaster
from forecaster.cli.options import data_overrides, source_options
from forecaster.config import DataConfig, make_config, validate_config
from forecaster.data import cache, loader, sources
from forecaster.data.series import validate
from forecaster.data.sources import base, flags, http
from forecaster.errors import ConfigError, SourceUnavailable
from forecaster.settings import paths


class Synthetic:
    """A live source: ``value`` = 10 + sin(day / 7) at midnight UTC of every day up to ``today``."""

    name = "synthetic"
    title = "Synthetic waves"
    live = True
    declaration = base.Declaration(
        flags=(
            base.Flag((base.Option("wave", "symbol", "A synthetic wave."),), "--wave NAME", "wave"),
        ),
        config="weather_daily",  # any shipped config: the test checks it is the one used
        names=(("symbol",),),
        missing="no wave given — set data.symbol",
        no_group="waves do not form groups — name one",
    )

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
        assert isinstance(source.declaration, base.Declaration), name
        for method in ("resolve", "covers", "fetch", "to_series"):
            assert callable(getattr(source, method)), (name, method)


def test_a_new_source_is_selected_by_config_from_its_declaration(synthetic):
    cfg = make_config(overrides={"data.source": "synthetic", "data.symbol": "wave"})
    assert cfg.model.horizon == 7 and cfg.data.interval == "1d"  # its default config
    assert loader.load(cfg.data).series.source == "synthetic"
    with pytest.raises(ConfigError, match="^no wave given — set data.symbol$"):
        make_config(overrides={"data.source": "synthetic"})
    group = {"source": "synthetic", "group": {"symbols": ["a", "b"]}}
    with pytest.raises(ConfigError, match="waves do not form groups — name one"):
        validate_config({"data": group})


def test_the_command_line_reads_a_new_sources_flag_from_the_registry(synthetic):
    assert "--wave" in [opt.opts[0] for opt in _click_params(source_options())]
    over = data_overrides({"wave": "w2"})
    assert (over["data.source"], over["data.symbol"]) == ("synthetic", "w2")
    with pytest.raises(ConfigError, match=r"or --wave NAME$"):
        data_overrides({})
    with pytest.raises(ConfigError, match="--ticker and --wave were both given"):
        data_overrides({"ticker": "AAPL", "wave": "w2"})
    assert flags.choose({"wave": "w2"}).source == "synthetic"


def _click_params(decorators) -> list:
    def command():
        pass

    for decorate in decorators:
        command = decorate(command)
    return command.__click_params__


def test_every_registered_source_declares_what_config_and_cli_need():
    for name, source in sources.SOURCES.items():
        decl = source.declaration
        assert isinstance(decl, base.Declaration), name
        assert (decl.config_for(None) + ".yaml") in {p.name for p in _configs()}, name
        assert bool(decl.names) == bool(decl.missing), name  # what is checked has a message
        for flag in decl.flags:
            assert {o.field for o in flag.options} in [set(way) for way in decl.names], name
            assert not (flag.group and decl.no_group), name  # a flag's group must be allowed


def _configs() -> list[Path]:
    return list((Path(forecaster.__file__).parents[1] / "configs").glob("*.yaml"))


def test_no_source_name_is_compared_outside_the_sources():
    """Config, CLI, API and nightly code dispatch through the registry: a comparison with a
    registered source's name (``source == "csv"``, ``x in ("yahoo", ...)``) is a source's own rule
    leaking out of its module."""
    names = set(sources.SOURCES)
    root = Path(forecaster.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        if path.is_relative_to(root / "data" / "sources"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and _names_in(node) & names:
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not found


def _names_in(node: ast.Compare) -> set[str]:
    parts = [node.left, *node.comparators]
    items = [
        e for p in parts for e in (p.elts if isinstance(p, ast.Tuple | ast.List | ast.Set) else [p])
    ]
    return {e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)}
