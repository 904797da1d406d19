"""Several series loaded as one group: ``data.group`` in, a typed :class:`SeriesGroup` out.

A group is a watchlist of tickers (or a list of cities, or bundled snapshots) that one model is
trained on (issue 14). Each member is loaded through :func:`forecaster.data.loader.load` with the
group's ``data`` settings, so each keeps its own cache, fallback and calendar; then the group is
checked as a whole. Every problem is one line naming the group and the member:

* a member with no data anywhere (an unknown ticker, or offline with nothing cached or bundled):
  the member's own error (same type and exit code), prefixed with the group and member;
* members with different frequencies (trading days and calendar days, hours and days);
* a group of one, or the same member twice (:func:`~forecaster.config.check_members`).

``skip_failed=True`` (a nightly job) loads what it can and lists the members that failed in
``SeriesGroup.skipped``; fewer than two loaded members is still an error.

The command line names a group with a comma-separated list (``--ticker AAPL,MSFT,IBM``):
:func:`~forecaster.config.parse_symbols` splits it, :func:`~forecaster.config.make_config` turns it into
``data.group``. The group's key in the model store is :func:`group_key` (``group-<name>-<interval>``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from forecaster.config import DataConfig, check_members
from forecaster.data import cache, loader
from forecaster.data.loader import Loaded, resolve
from forecaster.data.series import Series
from forecaster.data.sources.base import series_key as base_series_key
from forecaster.errors import ConfigError, DataError, ForecasterError

__all__ = [
    "SeriesGroup",
    "from_series",
    "group_key",
    "load_group",
    "member_config",
    "named_group_key",
    "store_key",
]


def member_config(cfg: DataConfig, symbol: str) -> DataConfig:
    """The config of one member of ``cfg``'s group: the same settings, one series."""
    return cfg.model_copy(
        update={"group": None, "symbol": symbol, "latitude": None, "longitude": None}
    )


def group_key(cfg: DataConfig) -> str:
    """The model-store key of the group ``cfg`` names: ``group-<name>-<interval>``
    (``group-big_tech-1d``; a name that had to be made safe carries a short hash, as for series)."""
    if cfg.group is None:
        raise ConfigError("no group given — set data.group or list symbols: --ticker AAPL,MSFT")
    return named_group_key(cfg.group.label, member_config(cfg, cfg.group.symbols[0]))


def named_group_key(name: str, member: DataConfig) -> str:
    """The store key of the group called ``name`` at the interval of ``member``'s series (for
    ``--model group:NAME``)."""
    return base_series_key("group", cache.safe_key(name), resolve(member)[1].interval)


def store_key(cfg: DataConfig) -> str:
    """The model-store key of what ``cfg`` names: its group's key, or its one series' key."""
    return group_key(cfg) if cfg.group is not None else loader.series_key(cfg)


@dataclass(frozen=True)
class SeriesGroup:
    """Validated series of one frequency, in the order the group lists them.

    ``name``: the group's name (``big_tech``, or its members joined: ``AAPL_MSFT``); ``key``: its
    model-store key (``group-big_tech-1d``); ``freq``: the members' common frequency; ``loaded``:
    where each member came from (one :class:`~forecaster.data.loader.Loaded` per member, or empty
    for a group built from series); ``skipped``: ``(symbol, one-line reason)`` of members that
    failed to load under ``skip_failed``.
    """

    name: str
    key: str
    freq: str
    members: tuple[Series, ...]
    loaded: tuple[Loaded, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(m.symbol for m in self.members)

    @property
    def calendars(self) -> tuple[str | None, ...]:
        """Each member's exchange calendar (members may trade on different exchanges)."""
        return tuple(m.calendar for m in self.members)

    @property
    def end(self):
        """The newest timestamp of any member (what "new data since" compares)."""
        return max(m.end for m in self.members)

    @property
    def source(self) -> str:
        """Where the members came from: their common source, or the first that differs from the
        first member's (a fallback to cache or snapshot for one member shows)."""
        sources = [m.source for m in self.members]
        return next((src for src in sources if src != sources[0]), sources[0])

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Series]:
        return iter(self.members)

    def member(self, symbol: str) -> Series:
        """The member named ``symbol`` (any case); a one-line ConfigError when it is not one."""
        for series in self.members:
            if series.symbol.upper() == symbol.strip().upper():
                return series
        raise ConfigError(
            f"{symbol[:40]} is not a member of group {self.name} ({', '.join(self.symbols)})"
        )


def _in_member(exc: ForecasterError, prefix: str) -> ForecasterError:
    """``exc`` as the same type (and so the same exit code), its message prefixed."""
    err = type(exc).__new__(type(exc))
    Exception.__init__(err, f"{prefix}: {exc}")
    return err


def _checked(name: str, key: str, members: Sequence[Series], **extra) -> SeriesGroup:
    check_members([m.symbol for m in members], f"group {name}")
    freqs = {m.freq for m in members}
    if len(freqs) > 1:
        each = ", ".join(f"{m.symbol} {m.freq}" for m in members)
        raise DataError(
            f"group {name}: members have different frequencies ({each}) — group series of one "
            "kind and interval (e.g. stocks on trading days, not crypto that also trades at weekends)"
        )
    return SeriesGroup(name, key, freqs.pop(), tuple(members), **extra)


def load_group(cfg: DataConfig, *, refresh: bool = True, skip_failed: bool = False) -> SeriesGroup:
    """Load every member of ``cfg.group`` (see the module docstring for the errors).

    ``refresh`` as for :func:`~forecaster.data.loader.load`; ``skip_failed``: a member that fails
    to load is listed in ``skipped`` instead of failing the group.
    """
    group = cfg.group
    if group is None:
        raise ConfigError("no group given — set data.group or list symbols: --ticker AAPL,MSFT")
    name, key = group.label, group_key(cfg)
    # the same series under two spellings (a city's case) is one member twice
    keys: dict[str, str] = {}
    for symbol in group.symbols:
        member_key = loader.series_key(member_config(cfg, symbol))
        if member_key in keys:
            raise ConfigError(
                f"group {name}: {keys[member_key]} and {symbol} are the same series "
                f"({member_key}) — name each member once"
            )
        keys[member_key] = symbol
    members, loaded, skipped = [], [], []
    for symbol in group.symbols:
        try:
            got = loader.load(member_config(cfg, symbol), refresh=refresh)
        except ForecasterError as exc:
            if not skip_failed:
                raise _in_member(exc, f"group {name}: member {symbol}") from None
            skipped.append((symbol, str(exc)))
            continue
        members.append(got.series)
        loaded.append(got)
    if skip_failed and len(members) < 2:
        why = "; ".join(f"{s}: {reason}" for s, reason in skipped)
        raise DataError(
            f"group {name}: {len(members)} of {len(group.symbols)} members loaded ({why})"
        )
    return _checked(name, key, members, loaded=tuple(loaded), skipped=tuple(skipped))


def from_series(name: str, members: Sequence[Series], key: str | None = None) -> SeriesGroup:
    """A group of already loaded series (tests, notebooks, benchmarks), checked as
    :func:`load_group` checks one; ``key`` defaults to ``group-<name>``."""
    return _checked(name, key or f"group-{name}", list(members))
