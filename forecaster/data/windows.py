"""Sliding windows over one feature tensor, chronological splits, and the Lightning DataModule.

A window starting at row ``i`` reads inputs rows ``[i, i + L)`` (all features) and targets rows
``[i + L, i + L + H)`` of column 0 (the target in units). Its "origin" is ``i + L``: the first
forecast row. Every window lies inside one split (train, then val, then test, in time order), so no
window straddles two splits.

Windows are never materialised: the (T, F) float32 tensor is viewed as ``(T - L - H + 1, F, L + H)``
with :meth:`torch.Tensor.unfold` (a view, no copy) and each batch is gathered from that view with one
advanced-index operation. Memory stays O(T x F) however many windows there are.
"""

from __future__ import annotations

import datetime as dt

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from forecaster.config import Config
from forecaster.data.features import FeatureSpec, build_features, fit_spec
from forecaster.data.series import Series
from forecaster.data.shards import EpochBatchSampler, shard_sampler
from forecaster.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}
"""Split -> its name in messages."""


# -- splits and window starts (pure functions) ------------------------------------------------------
def split_bounds(
    index: pd.DatetimeIndex,
    *,
    val_fraction: float,
    test_fraction: float,
    train_end: dt.date | None = None,
    val_end: dt.date | None = None,
) -> dict[str, tuple[int, int]]:
    """Row ranges ``[lo, hi)`` of the train, val and test splits, in time order.

    By fraction of the rows (the last ``test_fraction`` is test, the ``val_fraction`` before it val),
    or by date: train is every row before ``train_end``; val the rows before ``val_end`` (or all the
    rest when ``val_end`` is not given); test what remains.
    """
    n = len(index)
    if train_end is None and val_end is None:
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        a, b = n - n_val - n_test, n - n_test
    else:
        if train_end is None:
            raise ConfigError(
                "train.val_end needs train.train_end too — set both dates, or neither"
            )

        def row(date: dt.date) -> int:
            stamp = pd.Timestamp(date)
            stamp = stamp.tz_localize(index.tz) if index.tz is not None else stamp
            return int(index.searchsorted(stamp, side="left"))

        a = row(train_end)
        b = row(val_end) if val_end is not None else n
    return {"train": (0, a), "val": (a, b), "test": (b, n)}


def window_starts(lo: int, hi: int, length: int, stride: int = 1) -> np.ndarray:
    """Starts ``i`` (int64) of every window of ``length`` rows inside ``[lo, hi)``, ``stride`` apart."""
    return np.arange(lo, hi - length + 1, stride, dtype=np.int64)


def origins_in(bounds: tuple[int, int], lookback: int, horizon: int) -> np.ndarray:
    """Origins (int64 rows) of every window, stride 1, inside the rows ``bounds = [lo, hi)``:
    origin ``o`` forecasts ``[o, o + horizon)`` from ``[o - lookback, o)``."""
    return window_starts(*bounds, lookback + horizon) + lookback


def split_origins(
    index: pd.DatetimeIndex, cfg: Config, split: str, *, required: bool = False
) -> np.ndarray:
    """Origins (int64 row positions) of every window of ``split``, stride 1, under ``cfg``'s splits.

    Origin ``o`` forecasts rows ``[o, o + H)`` from rows ``[o - L, o)`` (L, H: ``cfg.model``), and
    the whole window lies inside the split: the windows training validates and tests on.
    ``required``: a one-line DataError when the split holds no full window.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    t, L, H = cfg.train, cfg.model.lookback, cfg.model.horizon
    bounds = split_bounds(
        index,
        val_fraction=t.val_fraction,
        test_fraction=t.test_fraction,
        train_end=t.train_end,
        val_end=t.val_end,
    )
    origins = origins_in(bounds[split], L, H)
    if required and len(origins) == 0:
        lo, hi = bounds[split]
        raise DataError(
            f"the {SPLIT_NAMES[split]} split has {hi - lo} rows, fewer than lookback {L} + horizon "
            f"{H} — use a longer span or shorter --lookback/--horizon"
        )
    return origins


def check_split(
    series: Series, bounds: dict[str, tuple[int, int]], name: str, lookback: int, horizon: int
) -> None:
    """One-line DataError unless split ``name`` holds at least one full (lookback + horizon) window."""
    lo, hi = bounds[name]
    need = lookback + horizon
    if hi - lo >= need:
        return
    label = f"{series.source}:{series.symbol}"
    what = SPLIT_NAMES[name]
    if len(series) < need:
        raise DataError(
            f"{label}: {len(series)} rows is too short — lookback {lookback} + horizon {horizon} needs "
            f"{need} rows in the {what} split alone; use a longer span or shorter --lookback/--horizon"
        )
    knob = {"train": "a smaller val/test fraction", "val": "a larger train.val_fraction"}.get(
        name, ""
    )
    raise DataError(
        f"{label}: the {what} split has {hi - lo} rows but lookback {lookback} + horizon {horizon} needs "
        f"{need} — use a longer span, {knob or 'other split dates'}, or shorter --lookback/--horizon"
    )


# -- batched window dataset -------------------------------------------------------------------------
class WindowDataset(Dataset):
    """Windows over one shared (T, F) tensor, gathered a whole batch per ``__getitem__``.

    ``data``: (T, F) float32, column 0 the target in units. ``starts``: (N,) first input row of each
    window. ``ds[positions]`` with B positions (a list or tensor, as a BatchSampler yields them)
    returns ``x`` (B, L, F) and ``y`` (B, H), the target in units.
    """

    def __init__(self, data: torch.Tensor, starts: np.ndarray, lookback: int, horizon: int):
        self.data = data
        self.lookback, self.horizon = lookback, horizon
        self.windows = data.unfold(0, lookback + horizon, 1)  # (T - L - H + 1, F, L + H), a view
        self.starts = torch.as_tensor(starts, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, positions) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.as_tensor(positions, dtype=torch.long)
        single = positions.ndim == 0
        w = self.windows[self.starts[positions.reshape(-1)]].transpose(1, 2)  # (B, L + H, F)
        x, y = w[:, : self.lookback].contiguous(), w[:, self.lookback :, 0].contiguous()
        return (x[0], y[0]) if single else (x, y)


def batch_loader(
    ds: Dataset,
    batch_size: int,
    generator: torch.Generator | None,
    workers: int = 0,
    shard: dict | None = None,
) -> DataLoader:
    """Batches of ``ds`` gathered whole: a BatchSampler hands ``ds[positions]`` a batch of
    positions at a time (shuffled with ``generator``; in order when it is ``None``). ``shard``
    (:func:`shard_of`): under a multi-device Trainer, this process's share of the positions."""
    if shard is not None:
        sampler = shard_sampler(ds, shuffle=generator is not None, **shard)
    elif generator is not None:
        sampler = RandomSampler(ds, generator=generator)
    else:
        sampler = SequentialSampler(ds)
    return DataLoader(
        ds,
        batch_size=None,  # the BatchSampler hands __getitem__ whole batches of positions
        sampler=EpochBatchSampler(sampler, batch_size, drop_last=False),
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
    )


def shard_of(trainer, split: str, seed: int) -> dict | None:
    """How a DataModule's loader shards its windows: ``None`` for one process, else this rank's
    place among the Trainer's processes (see :mod:`forecaster.data.shards`)."""
    world = trainer.world_size if trainer is not None else 1
    if world <= 1:
        return None
    return {"split": split, "seed": seed, "rank": trainer.global_rank, "world": world}


# -- the DataModule ----------------------------------------------------------------------------------
class SplitLoaders:
    """The train/val/test loaders of a datamodule with ``datasets``, ``cfg``, ``trainer`` and a
    seeded ``_generator``: shuffled batches for training, ordered batches 4x larger to evaluate,
    each sharded across ranks under a multi-device strategy."""

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        generator = self._generator if shuffle else None
        return batch_loader(
            self.datasets[split],
            batch_size,
            generator,
            self.cfg.train.num_workers,
            shard=shard_of(self.trainer, split, self.cfg.train.seed),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.cfg.train.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False, 4 * self.cfg.train.batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, 4 * self.cfg.train.batch_size)


class SeriesDataModule(SplitLoaders, pl.LightningDataModule):
    """Features, scaler (fitted on training rows only), chronological splits and batch loaders.

    Pass ``spec`` to reuse a saved feature spec instead of fitting one (prediction, evaluation).
    :meth:`setup` is idempotent and can be called before the Trainer does (to size the model).
    Under a multi-device Trainer each process's loaders draw only its share of the windows
    (:mod:`forecaster.data.shards`).
    """

    def __init__(self, series: Series, cfg: Config, spec: FeatureSpec | None = None):
        super().__init__()
        self.series, self.cfg, self.spec = series, cfg, spec
        self.lookback, self.horizon = cfg.model.lookback, cfg.model.horizon
        self.data: torch.Tensor | None = None
        self.datasets: dict[str, WindowDataset] = {}
        self.bounds: dict[str, tuple[int, int]] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        t, m = self.cfg.train, self.cfg.model
        self.bounds = split_bounds(
            self.series.index,
            val_fraction=t.val_fraction,
            test_fraction=t.test_fraction,
            train_end=t.train_end,
            val_end=t.val_end,
        )
        for name in ("train", "val"):
            check_split(self.series, self.bounds, name, self.lookback, self.horizon)
        if self.spec is None:
            self.spec = fit_spec(
                self.series, self.cfg.data.covariates, m.calendar, self.bounds["train"][1]
            )
        self.data = torch.from_numpy(build_features(self.series, self.spec))
        length = self.lookback + self.horizon
        for name, (lo, hi) in self.bounds.items():
            stride = t.stride if name == "train" else 1
            starts = window_starts(lo, hi, length, stride)
            self.datasets[name] = WindowDataset(self.data, starts, self.lookback, self.horizon)
        self._generator = torch.Generator().manual_seed(t.seed)

    def member_origins(self, split: str) -> list[np.ndarray]:
        """The origins of every window of ``split`` (stride 1), as a list of one: the
        :class:`~forecaster.data.pooled.GroupDataModule` interface for a group of one series."""
        return [origins_in(self.bounds[split], self.lookback, self.horizon)]
