"""The data a study may read (everything before the fit's test span) and its rolling-origin validation blocks.

The test span is cut off first (:func:`searchable`), so nothing after it reaches the search.
What is left, ``n`` distinct timestamps (of every member of a group), ends in ``k`` validation
blocks of ``b = round(n * train.val_fraction)`` stamps each, one after another (expanding window)::

    |---- history (training of block 0) ----|- block 0 -|- block 1 -|- block 2 -|  test (cut off)

Block ``j`` is scored by a fit on every row before the block's end whose validation split is the
block itself (``train.val_fraction = b / rows``, no test split): the fit trains on the rows before
the block, early-stops and chooses its correction on it, as a fit on data ending there would.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.config import Config, TrainConfig
from forecaster.data.group import SeriesGroup
from forecaster.data.series import Series
from forecaster.data.splits import cuts_for
from forecaster.errors import DataError

Data = Series | SeriesGroup


def members_of(data: Data) -> list[Series]:
    """The series of ``data``: a group's members, or the one series."""
    return list(data) if isinstance(data, SeriesGroup) else [data]


def with_members(data: Data, members: list[Series]) -> Data:
    """``data`` over other rows of the same members (in the same order)."""
    if isinstance(data, SeriesGroup):
        return dataclasses.replace(data, members=tuple(members))
    return members[0]


def union_index(data: Data) -> pd.DatetimeIndex:
    """The distinct timestamps of every member, sorted (UTC when the members are zone-aware)."""
    indexes = [m.index for m in members_of(data)]
    if len(indexes) == 1:
        return indexes[0]
    out = indexes[0]
    for ix in indexes[1:]:
        out = out.union(ix)
    return out


def searchable(data: Data, train: TrainConfig) -> tuple[Data, pd.Timestamp | None]:
    """``data`` without the fit's test span (the rows from the cut :func:`cuts_for` makes, for one
    series its last ``train.test_fraction`` of rows, see
    :func:`~forecaster.data.splits.first_test_row`), and the test span's first instant (None
    when the config leaves no test span)."""
    cuts = cuts_for([m.index for m in members_of(data)], train)
    if cuts.val_end is None:
        return data, None
    members = members_of(data)
    start = cuts.val_end
    if start.tzinfo is not None and members[0].index.tz is not None:
        start = start.tz_convert(members[0].index.tz)  # in the (first) series' own zone
    return with_members(data, [m.until(cuts.val_end) for m in members]), start


@dataclass(frozen=True)
class Block:
    """Validation block ``number``: the union stamps ``[start, end)`` (``end`` None: to the end of
    the searchable rows); ``history`` stamps come before it and ``rows`` are in it."""

    number: int
    start: pd.Timestamp
    end: pd.Timestamp | None
    history: int
    rows: int

    def describe(self) -> str:
        last = "end" if self.end is None else str(self.end.date())
        return f"block {self.number}: {self.rows} rows from {self.start.date()} to {last}"


def block_bounds(n: int, val_fraction: float, k: int) -> list[tuple[int, int]]:
    """Row ranges ``[lo, hi)`` of ``k`` consecutive blocks of ``round(n * val_fraction)`` rows that
    end at row ``n``, oldest first. A one-line DataError when the history before the first block
    would be shorter than one block."""
    b = int(round(n * val_fraction))
    if b < 1 or n - k * b < b:
        raise DataError(
            f"{n} rows before the test span are too few for {k} validation blocks of "
            f"{max(b, 1)} rows with a history of at least one block — use fewer --blocks or a "
            "longer series"
        )
    return [(n - (k - j) * b, n - (k - j - 1) * b) for j in range(k)]


def make_blocks(data: Data, train: TrainConfig, k: int) -> tuple[Block, ...]:
    """The ``k`` validation blocks of the searchable ``data`` (see the module docstring)."""
    union = union_index(data)
    out = []
    for j, (lo, hi) in enumerate(block_bounds(len(union), train.val_fraction, k)):
        end = union[hi] if hi < len(union) else None
        out.append(Block(j, union[lo], end, lo, hi - lo))
    return tuple(out)


def block_data(data: Data, block: Block) -> Data:
    """Every row of ``data`` before the block's end."""
    if block.end is None:
        return data
    return with_members(data, [m.until(block.end) for m in members_of(data)])


def block_config(cfg: Config, block: Block) -> Config:
    """``cfg`` for the fit that scores ``block``: its validation split is the block (the last
    ``rows`` of ``history + rows`` stamps), no test split, quiet, no log files."""
    train = cfg.train.model_copy(
        update={
            "val_fraction": block.rows / (block.history + block.rows),
            "test_fraction": 0.0,
            "train_end": None,
            "val_end": None,
            "progress_bar": False,
            "logger": "none",
        }
    )
    return cfg.model_copy(update={"train": train})


def block_rows(series: Series, block: Block) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of ``series`` inside the block."""
    times = series.index
    lo = int(np.searchsorted(times, block.start.tz_convert(times.tz) if times.tz else block.start))
    if block.end is None:
        return lo, len(series)
    end = block.end.tz_convert(times.tz) if times.tz else block.end
    return lo, int(np.searchsorted(times, end))


def longest_lookback(blocks: tuple[Block, ...], horizon: int) -> int:
    """The longest lookback every block's fit can use: a window of ``lookback + horizon`` rows must
    fit in the first block's history (its training split) and in one block (its validation)."""
    first = blocks[0]
    return min(first.history, first.rows) - horizon
