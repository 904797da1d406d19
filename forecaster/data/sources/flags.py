"""Which series the command line's flags name, read from the registered sources' declarations.

A flag (``--ticker``, ``--city``, ``--lat``/``--lon``, ``--csv``) is declared by the source it selects
(:class:`~forecaster.data.sources.base.Flag`); the order of precedence is the registry's, then each
source's. :func:`choose` is :func:`~forecaster.config.make_config`'s rule (the first flag given
names the series), :func:`choose_one` the command line's (exactly one flag, each option given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forecaster.config import parse_symbols
from forecaster.data import sources as registry
from forecaster.data.sources.base import Flag, Option, given
from forecaster.errors import ConfigError


@dataclass(frozen=True)
class Choice:
    """The series one flag names: its source and the ``data`` values the flag sets."""

    source: str
    flag: Flag
    data: dict[str, Any] = field(default_factory=dict)
    """``data`` field -> value (``{"symbol": "AAPL"}``, ``{"latitude": 52.5, "longitude": 13.4}``;
    an option not given is ``None``); empty for a group."""
    members: tuple[str, ...] = ()
    """A group's members when a comma-separated value names one (``--ticker AAPL,MSFT``)."""

    def overrides(self) -> dict[str, Any]:
        """As dotted config overrides: ``data.source`` and the fields, or ``data.group``."""
        if self.members:
            return {
                "data.source": self.source,
                "data.group": {"name": None, "symbols": list(self.members)},
            }
        return {"data.source": self.source, **{f"data.{k}": v for k, v in self.data.items()}}


def flags() -> list[tuple[str, Flag]]:
    """Every declared flag with its source's name, in order of precedence."""
    return [(name, f) for name, src in registry.SOURCES.items() for f in src.declaration.flags]


def options() -> list[Option]:
    """Every option of every flag, in order of precedence (``ticker city lat lon csv``)."""
    return [option for _, f in flags() for option in f.options]


def series_names() -> tuple[tuple[str, ...], ...]:
    """Every way a config names one series, over all sources (``(symbol,) (latitude, longitude)
    (path,)``, see :attr:`~forecaster.data.sources.base.Declaration.names`)."""
    return tuple(
        dict.fromkeys(w for src in registry.SOURCES.values() for w in src.declaration.names)
    )


def series_fields() -> tuple[str, ...]:
    """Every ``data`` field that names one series, over all sources (``symbol latitude longitude
    path``): a group replaces them, and they replace a group."""
    return tuple(dict.fromkeys(f for way in series_names() for f in way))


def either(words: list[str]) -> str:
    """``"a, b or c"``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def given_flags(values: Mapping[str, Any]) -> list[tuple[str, Flag]]:
    """The flags with any option given in ``values`` (option name -> value), in order of precedence."""
    return [(src, f) for src, f in flags() if any(given(values.get(o.name)) for o in f.options)]


def choose(values: Mapping[str, Any]) -> Choice | None:
    """The series the first flag given names (``ticker`` before ``city``, ``lat``/``lon``, ``csv``;
    later ones are ignored), or ``None`` when none is. One-line ConfigErrors for a bad group."""
    chosen = given_flags(values)
    return _choice(*chosen[0], values) if chosen else None


def choose_one(values: Mapping[str, Any]) -> Choice:
    """The series the command line names: exactly one flag, with all of its options (one-line
    ConfigErrors naming the flags otherwise)."""
    for _, f in flags():
        parts = [given(values.get(o.name)) for o in f.options]
        if any(parts) and not all(parts):
            raise ConfigError(f"{' and '.join(o.flag for o in f.options)} must be given together")
    chosen = given_flags(values)
    if not chosen:
        examples = either([f.example for _, f in flags()])
        raise ConfigError(f"no series given — pass {examples}")
    choice = _choice(*chosen[0], values)  # a bad group is reported before a second flag
    if len(chosen) > 1:
        both = " and ".join(f.label for _, f in chosen)
        raise ConfigError(f"choose one series: {both} were both given")
    return choice


def _choice(source: str, flag: Flag, values: Mapping[str, Any]) -> Choice:
    """What ``flag`` (given in ``values``) names: a series, or a group for a comma-separated value."""
    data = {o.field: _value(o, values.get(o.name), flag.upper) for o in flag.options}
    first, *more = data.values()
    if flag.group and not more and "," in first:
        return Choice(source, flag, members=tuple(parse_symbols(first, flag.label)))
    return Choice(source, flag, data)


def _value(option: Option, value: Any, upper: bool) -> Any:
    if not given(value) or option.kind == "number":
        return value
    return str(value).upper() if upper else str(value)
