"""The data sources, by the name ``data.source`` uses. Each module implements
:class:`~forecaster.data.sources.base.Source`, with the declaration (flags, default config, the
fields that name a series) that config resolution and the CLI read from here; adding a source is
its module plus one line here."""

from __future__ import annotations

from forecaster.data.sources import local, openmeteo, snapshot, yahoo
from forecaster.data.sources.base import Source
from forecaster.errors import ConfigError

SOURCES: dict[str, Source] = {
    yahoo.SOURCE.name: yahoo.SOURCE,
    openmeteo.SOURCE.name: openmeteo.SOURCE,
    local.SOURCE.name: local.SOURCE,
    snapshot.SOURCE.name: snapshot.SOURCE,
}


def get(name: str) -> Source:
    """The source registered as ``name``, or a one-line ConfigError listing them."""
    try:
        return SOURCES[name]
    except KeyError:
        known = ", ".join(SOURCES)
        raise ConfigError(f"unknown data source '{name[:40]}' — use {known}") from None
