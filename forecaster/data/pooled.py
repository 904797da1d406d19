"""Pooled windows over a group of series, split by time across the group, and their DataModule.

One model learns from the windows of every member (a "global" model). Layout, for M members where
member i has T_i rows and every member F features (L = lookback, H = horizon)::

    data     (sum T_i, F) float32   the members' feature matrices one after another
    offsets  (M + 1,) int64         member i owns rows [offsets[i], offsets[i + 1]) of data;
                                    member_data(i) is that slice: a view, no copy
    windows  (sum T_i - L - H + 1, F, L + H)   data.unfold(0, L + H, 1): a view, no copy
    starts   (N,) int64             rows of data where the split's windows start
    members  (N,) int64             the member of each window (for a learned series embedding)

A start ``s`` of member i satisfies ``offsets[i] <= s`` and ``s + L + H <= offsets[i + 1]``: no
window crosses from one member into the next. A batch of B positions is one advanced index into
``windows`` (the whole batch at once): ``x`` (B, L, F), ``y`` (B, H) target in units, and with
``with_member`` the member ids (B,). Memory stays O(sum T_i x F) however many windows there are.

Splits are by time across the group (:func:`group_cuts`): two instants cut every member the same
way, so no member's validation or test period is in another member's training data. A window lies
inside one split of its member, as for one series. The cut instants come from the fractions of the
union of the members' timestamps, or from ``train.train_end``/``train.val_end`` (midnight of the
date in the earliest time zone of the group, so the cut is one instant for all).

Features: one :class:`~forecaster.data.features.FeatureSpec` for the group, its covariate scaler
fitted on every member's training rows (:func:`fit_group_spec`), so one saved spec serves every
member (and a series that was not in the group).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch

from forecaster.config import Config
from forecaster.data.features import (
    FeatureSpec,
    build_features,
    default_calendar,
    raw_covariates,
    resolve_covariates,
    spec_from_rows,
)
from forecaster.data.group import SeriesGroup
from forecaster.data.series import Series
from forecaster.data.windows import (
    SPLIT_NAMES,
    SPLITS,
    SplitLoaders,
    WindowDataset,
    origins_in,
    window_starts,
)
from forecaster.errors import DataError


# -- splits by time across the group (pure functions) ------------------------------------------------
@dataclass(frozen=True)
class Cuts:
    """Where the splits of every member end: training is every row before ``train_end``, validation
    the rows from ``train_end`` to before ``val_end``, test the rest (``val_end=None``: no test)."""

    train_end: pd.Timestamp
    val_end: pd.Timestamp | None


def _ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Instants as int64 nanoseconds (UTC for tz-aware indexes), comparable across time zones."""
    return index.as_unit("ns").asi8


def _stamp(ns: int, aware: bool) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC" if aware else None)


def group_cuts(
    indexes: Sequence[pd.DatetimeIndex],
    *,
    val_fraction: float,
    test_fraction: float,
    train_end: dt.date | None = None,
    val_end: dt.date | None = None,
) -> Cuts:
    """The two cut instants of a group's splits (UTC for tz-aware indexes).

    By fraction: the union of every member's timestamps is split as one series would be (the last
    ``test_fraction`` of its distinct stamps is test, the ``val_fraction`` before it validation).
    By date: midnight of ``train_end`` (``val_end``) in the earliest time zone among the members.
    """
    aware = {ix.tz is not None for ix in indexes}
    if len(aware) != 1:
        raise ValueError("a group mixes tz-aware and naive indexes")
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
        raise DataError("train.val_end needs train.train_end too — set both dates, or neither")

    def midnight(date: dt.date) -> pd.Timestamp:
        local = [
            pd.Timestamp(date).tz_localize(ix.tz) if is_aware else pd.Timestamp(date)
            for ix in indexes
        ]
        return min(local).tz_convert("UTC") if is_aware else min(local)

    return Cuts(midnight(train_end), midnight(val_end) if val_end is not None else None)


def member_bounds(index: pd.DatetimeIndex, cuts: Cuts) -> dict[str, tuple[int, int]]:
    """Row ranges ``[lo, hi)`` of one member's train, val and test splits under ``cuts``."""
    times, n = _ns(index), len(index)
    a = int(np.searchsorted(times, cuts.train_end.value, side="left"))
    b = n if cuts.val_end is None else int(np.searchsorted(times, cuts.val_end.value, side="left"))
    return {"train": (0, a), "val": (a, max(a, b)), "test": (max(a, b), n)}


def fit_group_spec(
    members: Sequence[Series],
    covariates: list[str] | None,
    calendar: list[str] | None,
    train_rows: Sequence[int],
) -> FeatureSpec:
    """One spec for the group: the features the first member resolves to (every member must have
    them), the covariate scaler fitted on rows ``[0, train_rows[i])`` of every member i."""
    first = members[0]
    names = tuple(resolve_covariates(first, covariates))
    for m in members[1:]:
        if m.target != first.target or tuple(resolve_covariates(m, covariates)) != names:
            raise DataError(
                f"group member {m.symbol} has other columns than {first.symbol} (target "
                f"{m.target} vs {first.target}) — members need the same target and covariates"
            )
    cal = tuple(default_calendar(first.freq) if calendar is None else calendar)
    raw = np.concatenate(
        [raw_covariates(m, names)[:rows] for m, rows in zip(members, train_rows, strict=True)]
    )
    if len(raw) < 2:
        raise DataError(
            f"need at least 2 training rows across the group to fit the scaler, got {len(raw)}"
        )
    return spec_from_rows(first.target, names, cal, raw)


# -- batched window dataset over the concatenated members --------------------------------------------
class PooledWindowDataset(WindowDataset):
    """:class:`~forecaster.data.windows.WindowDataset` over the group's one (sum T_i, F) tensor,
    plus the member of each window.

    ``ds[positions]`` (B positions) returns ``x`` (B, L, F) and ``y`` (B, H), and with
    ``with_member`` also ``member`` (B,) int64: the index of each window's member in the group.
    ``starts`` and ``windows`` have the meaning they have for one series (so code that reads the
    training windows, such as the anchor choice, works on a group unchanged).
    """

    def __init__(
        self,
        data: torch.Tensor,
        starts: np.ndarray,
        members: np.ndarray,
        lookback: int,
        horizon: int,
        with_member: bool = False,
    ):
        super().__init__(data, starts, lookback, horizon)
        self.members = torch.as_tensor(members, dtype=torch.long)
        self.with_member = with_member

    def __getitem__(self, positions):
        positions = torch.as_tensor(positions, dtype=torch.long)
        x, y = super().__getitem__(positions)
        if not self.with_member:
            return x, y
        return x, y, self.members[positions]


# -- the DataModule ----------------------------------------------------------------------------------
class GroupDataModule(SplitLoaders, pl.LightningDataModule):
    """Features (one spec, scaler fitted on the group's training rows), splits by time across the
    group, pooled windows and batch loaders: :class:`~forecaster.data.windows.SeriesDataModule`'s
    interface for a group.

    ``group``: a :class:`~forecaster.data.group.SeriesGroup` or its member series (one frequency).
    ``spec``: reuse a saved spec instead of fitting one. ``with_member``: batches are
    ``(x, y, member)`` instead of ``(x, y)``. :meth:`setup` is idempotent. After it:

    * ``data`` (sum T_i, F), ``offsets`` (M + 1,) and :meth:`member_data` (see the module docstring);
    * ``cuts``: the two cut instants; ``bounds``: per member, its row ranges per split (rows of
      the member's own series, as ``SeriesDataModule.bounds`` for one series);
    * ``datasets``: a :class:`PooledWindowDataset` per split; ``counts``: windows per member and split.
    """

    def __init__(
        self,
        group: SeriesGroup | Sequence[Series],
        cfg: Config,
        spec: FeatureSpec | None = None,
        *,
        with_member: bool = False,
    ):
        super().__init__()
        self.members: tuple[Series, ...] = tuple(group)
        self.name = group.name if isinstance(group, SeriesGroup) else "group"
        self.cfg, self.spec, self.with_member = cfg, spec, with_member
        self.lookback, self.horizon = cfg.model.lookback, cfg.model.horizon
        self.data: torch.Tensor | None = None
        self.offsets = np.zeros(len(self.members) + 1, dtype=np.int64)
        self.cuts: Cuts | None = None
        self.bounds: list[dict[str, tuple[int, int]]] = []
        self.datasets: dict[str, PooledWindowDataset] = {}
        self.counts: dict[str, list[int]] = {}

    def member_data(self, i: int) -> torch.Tensor:
        """Member ``i``'s (T_i, F) feature matrix: a view into ``data``."""
        assert self.data is not None, "call setup() first"
        return self.data[int(self.offsets[i]) : int(self.offsets[i + 1])]

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        t, m = self.cfg.train, self.cfg.model
        L, H = self.lookback, self.horizon
        self.cuts = group_cuts(
            [s.index for s in self.members],
            val_fraction=t.val_fraction,
            test_fraction=t.test_fraction,
            train_end=t.train_end,
            val_end=t.val_end,
        )
        self.bounds = [member_bounds(s.index, self.cuts) for s in self.members]
        if self.spec is None:
            train_rows = [b["train"][1] for b in self.bounds]
            self.spec = fit_group_spec(
                self.members, self.cfg.data.covariates, m.calendar, train_rows
            )
        # one copy of the features, filled member by member; every window below is a view into it
        self.offsets = np.concatenate([[0], np.cumsum([len(s) for s in self.members])])
        self.data = torch.empty((int(self.offsets[-1]), self.spec.n_features), dtype=torch.float32)
        for i, series in enumerate(self.members):
            self.member_data(i).copy_(torch.from_numpy(build_features(series, self.spec)))
        for split in SPLITS:
            stride = t.stride if split == "train" else 1
            per_member = [
                window_starts(lo, hi, L + H, stride) + self.offsets[i]
                for i, (lo, hi) in enumerate(b[split] for b in self.bounds)
            ]
            self.counts[split] = [len(s) for s in per_member]
            members = np.repeat(np.arange(len(self.members)), self.counts[split])
            self.datasets[split] = PooledWindowDataset(
                self.data, np.concatenate(per_member), members, L, H, self.with_member
            )
        for split in ("train", "val"):
            self._check(split)
        self._generator = torch.Generator().manual_seed(t.seed)

    def _check(self, split: str) -> None:
        """One-line DataError unless ``split`` holds at least one window in some member."""
        if len(self.datasets[split]):
            return
        assert self.cuts is not None
        span = {
            "train": f"before {self.cuts.train_end:%Y-%m-%d %H:%M %Z}",
            "val": f"from {self.cuts.train_end:%Y-%m-%d %H:%M %Z}",
        }[split]
        rows = ", ".join(
            f"{s.symbol} {b[split][1] - b[split][0]}"
            for s, b in zip(self.members, self.bounds, strict=True)
        )
        raise DataError(
            f"group {self.name}: no member has a full {SPLIT_NAMES[split]} window (rows {span}: "
            f"{rows}; lookback {self.lookback} + horizon {self.horizon}) — use a longer span, other "
            "split fractions or dates, or shorter --lookback/--horizon"
        )

    def member_origins(self, split: str) -> list[np.ndarray]:
        """Per member, the origins (rows of its own series, stride 1) of every window of ``split``:
        origin ``o`` forecasts rows ``[o, o + H)`` from ``[o - L, o)``, all inside the split."""
        return [origins_in(b[split], self.lookback, self.horizon) for b in self.bounds]
