"""The one chronological split of a series or a group into train, validation and test rows.

Fit, backtest and the nightly holdout all cut data here. A split is two instants (:class:`Cuts`)
that cut every member of a group the same way, so no member's validation or test period is in
another member's training data; a single series is a group of one. Per member the cuts become row
ranges ``[lo, hi)`` (:func:`split_rows`), and windows of ``L + H`` rows inside a range become
origins (:func:`origins_in`): origin ``o`` forecasts rows ``[o, o + H)`` from rows ``[o - L, o)``.

By fraction, the union of the members' timestamps is split as one series would be: the last
``test_fraction`` of its distinct stamps is test, the ``val_fraction`` before it validation (for one
series: the last ``round(n * test_fraction)`` rows are test). By date: midnight of
``train_end``/``val_end`` in the earliest time zone among the members, so the cut is one instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}
"""Split -> its name in messages."""

Bounds = dict[str, tuple[int, int]]
"""Split name -> row range ``[lo, hi)`` of one member."""


@dataclass(frozen=True)
class Cuts:
    """Where the splits of every member end: training is every row before ``train_end``, validation
    the rows from ``train_end`` to before ``val_end``, test the rest (``val_end=None``: no test)."""

    train_end: pd.Timestamp
    val_end: pd.Timestamp | None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "train_end": str(self.train_end),
            "val_end": None if self.val_end is None else str(self.val_end),
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Cuts:
        """Read :meth:`to_dict`'s output; files written before meta.json had a schema wrote a
        missing ``val_end`` as the string ``"None"``."""
        val_end = raw.get("val_end")
        missing = val_end is None or val_end == "None"
        return cls(pd.Timestamp(raw["train_end"]), None if missing else pd.Timestamp(val_end))


def _ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Instants as int64 nanoseconds (UTC for tz-aware indexes), comparable across time zones."""
    return index.as_unit("ns").asi8


def _stamp(ns: int, aware: bool) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC" if aware else None)


def cut_times(
    indexes: Sequence[pd.DatetimeIndex],
    *,
    val_fraction: float,
    test_fraction: float,
    train_end: dt.date | None = None,
    val_end: dt.date | None = None,
) -> Cuts:
    """The two cut instants of the splits of ``indexes`` (one per member; UTC when tz-aware)."""
    aware = {ix.tz is not None for ix in indexes}
    if len(aware) != 1:
        raise DataError("a group mixes time-zone-aware and naive series — give every member a zone")
    is_aware = aware.pop()
    if train_end is None and val_end is None:
        union = np.unique(np.concatenate([_ns(ix) for ix in indexes]))
        n = len(union)
        n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
        a, b = n - n_val - n_test, n - n_test

        def at(k: int) -> pd.Timestamp:
            return _stamp(int(union[k]) if k < n else int(union[-1]) + 1, is_aware)

        return Cuts(at(a), at(b) if n_test else None)
    if train_end is None:
        raise ConfigError("train.val_end needs train.train_end too — set both dates, or neither")

    def midnight(date: dt.date) -> pd.Timestamp:
        local = [
            pd.Timestamp(date).tz_localize(ix.tz) if is_aware else pd.Timestamp(date)
            for ix in indexes
        ]
        return min(local).tz_convert("UTC") if is_aware else min(local)

    return Cuts(midnight(train_end), midnight(val_end) if val_end is not None else None)


def cuts_for(indexes: Sequence[pd.DatetimeIndex], train) -> Cuts:
    """:func:`cut_times` with the fractions and dates of a ``TrainConfig``."""
    return cut_times(
        indexes,
        val_fraction=train.val_fraction,
        test_fraction=train.test_fraction,
        train_end=train.train_end,
        val_end=train.val_end,
    )


def split_rows(index: pd.DatetimeIndex, cuts: Cuts) -> Bounds:
    """Row ranges ``[lo, hi)`` of one member's train, val and test splits under ``cuts``."""
    times, n = _ns(index), len(index)
    a = int(np.searchsorted(times, cuts.train_end.value, side="left"))
    b = n if cuts.val_end is None else int(np.searchsorted(times, cuts.val_end.value, side="left"))
    return {"train": (0, a), "val": (a, max(a, b)), "test": (max(a, b), n)}


def first_test_row(index: pd.DatetimeIndex, test_fraction: float) -> int:
    """The first row of the last ``test_fraction`` of ``index`` (at least one row): where the test
    split of a fit with these rows begins, and where a backtest or the nightly holdout starts."""
    if not 0 < test_fraction < 1:
        raise ConfigError(
            f"test_fraction={test_fraction:g} must be between 0 and 1 — or give backtest start/end dates"
        )
    if len(index) == 0:
        return 0
    lo, hi = split_rows(index, cut_times([index], val_fraction=0.0, test_fraction=test_fraction))[
        "test"
    ]
    return min(lo, hi - 1)


def window_starts(lo: int, hi: int, length: int, stride: int = 1) -> np.ndarray:
    """Starts ``i`` (int64) of every window of ``length`` rows inside ``[lo, hi)``, ``stride`` apart."""
    return np.arange(lo, hi - length + 1, stride, dtype=np.int64)


def origins_in(bounds: tuple[int, int], lookback: int, horizon: int) -> np.ndarray:
    """Origins (int64 rows) of every window, stride 1, inside the rows ``bounds = [lo, hi)``:
    origin ``o`` forecasts ``[o, o + horizon)`` from ``[o - lookback, o)``."""
    return window_starts(*bounds, lookback + horizon) + lookback


def check_split(label: str, rows: int, bounds: Bounds, name: str, lookback: int, horizon: int):
    """One-line DataError unless split ``name`` holds at least one full (lookback + horizon) window.
    ``label``: the series (or group) in the message; ``rows``: its length."""
    lo, hi = bounds[name]
    need = lookback + horizon
    if hi - lo >= need:
        return
    what = SPLIT_NAMES[name]
    if rows < need:
        raise DataError(
            f"{label}: {rows} rows is too short — lookback {lookback} + horizon {horizon} needs "
            f"{need} rows in the {what} split alone; use a longer span or shorter --lookback/--horizon"
        )
    knob = {"train": "a smaller val/test fraction", "val": "a larger train.val_fraction"}.get(
        name, ""
    )
    raise DataError(
        f"{label}: the {what} split has {hi - lo} rows but lookback {lookback} + horizon {horizon} needs "
        f"{need} — use a longer span, {knob or 'other split dates'}, or shorter --lookback/--horizon"
    )
