"""A run's config resolved from a YAML file (or the chosen source's default), the series flags and overrides.

Everything that depends on the source is read from its declaration
(:class:`~forecaster.data.sources.base.Declaration`) in the registry, so a new source needs no
change here. Also importable from :mod:`forecaster.config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forecaster.config import Config, load_config, override
from forecaster.data import sources as registry
from forecaster.data.sources import flags
from forecaster.data.sources.base import Declaration, given
from forecaster.errors import ConfigError


def default_config_for(source: str, interval: str | None = None) -> Config:
    """The shipped default config a source's runs start from (its declaration says which, e.g. daily
    stocks, or daily or hourly weather by ``interval``); an unknown source starts from ``default``."""
    src = registry.SOURCES.get(source)
    return load_config(src.declaration.config_for(interval) if src else "default")


def make_config(
    config: str | Path | Config | None = None,
    *,
    ticker: str | None = None,
    city: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    csv: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Resolve a run's config: a YAML file (or the default for the chosen source) plus overrides.

    ``ticker``, ``city``, ``lat``/``lon``, ``csv`` are the flags the sources declare (see
    :mod:`forecaster.data.sources.flags`); the first one given picks the series, otherwise the config
    file's ``data`` section must. ``overrides`` are dotted keys (``"model.lookback": 30``).
    A comma-separated ``ticker`` or ``city`` (``"AAPL,MSFT,IBM"``) names a group
    (``data.group``, see :func:`~forecaster.config.parse_symbols`), which replaces a series or
    group the config names; a single one replaces a group the config names.
    """
    over: dict[str, Any] = dict(overrides or {})
    values = {"ticker": ticker, "city": city, "lat": lat, "lon": lon, "csv": csv}
    choice = flags.choose(values)
    if choice is not None:
        _apply(over, choice)
    base = _base(config, over)
    # What the command line names replaces what the config names: a group its series, a series
    # its group (before the merge, which checks that a config names one or the other).
    # (A way counts as named when its first field is: latitude and longitude come together.)
    if over.get("data.group") is not None:
        base = _with_data(base, **dict.fromkeys(flags.series_fields()))
    elif any(over.get(f"data.{way[0]}") is not None for way in flags.series_names()):
        base = _with_data(base, group=None)
    cfg = override(base, over)
    src = registry.SOURCES.get(cfg.data.source)
    if src is None:  # the loader names the registered sources
        return cfg
    cfg = _replace_other_names(cfg, over, src.declaration)
    if cfg.data.group is None and not src.declaration.named_by(cfg.data):
        raise ConfigError(src.declaration.missing)
    return cfg


def _apply(over: dict[str, Any], choice: flags.Choice) -> None:
    """The flag's series into ``over``: values already there win, except that a group replaces one."""
    over.setdefault("data.source", choice.source)
    if choice.members:
        name = over.pop("data.group.name", None)
        over["data.group"] = {"name": name, "symbols": list(choice.members)}
        return
    for field, value in choice.data.items():
        over.setdefault(f"data.{field}", value)


def _base(config: str | Path | Config | None, over: dict[str, Any]) -> Config:
    """The config to start from: ``config`` itself, the file it names, or the source's default."""
    if isinstance(config, Config):
        return config
    if config is not None:
        return load_config(config)
    source = over.get("data.source")
    if not source:
        nouns = flags.either([f.noun for _, f in flags.flags()])
        raise ConfigError(f"no series given — pass a {nouns}, or a config")
    return default_config_for(source, over.get("data.interval"))


def _replace_other_names(cfg: Config, over: dict[str, Any], decl: Declaration) -> Config:
    """A series the overrides name one way (a place by its coordinates) no longer carries the
    config's other ways (a city name); the first way given wins."""
    chosen = next((way for way in decl.names if given(over.get(f"data.{way[0]}"))), None)
    if chosen is None:
        return cfg
    others = [f for f in decl.fields() if f not in chosen]
    return _with_data(cfg, **dict.fromkeys(others)) if others else cfg


def _with_data(cfg: Config, **update: Any) -> Config:
    return cfg.model_copy(update={"data": cfg.data.model_copy(update=update)})
