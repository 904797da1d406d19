"""Sliding windows over one feature tensor, and the Lightning DataModule of a series or a group.

A window starting at row ``i`` reads inputs rows ``[i, i + L)`` (all features) and targets rows
``[i + L, i + L + H)`` of column 0 (the target in units). Its "origin" is ``i + L``: the first
forecast row. Every window lies inside one split (train, then val, then test, in time order; see
:mod:`forecaster.data.splits`), so no window straddles two splits.

Windows are never materialised: the (T, F) float32 tensor is viewed as ``(T - L - H + 1, F, L + H)``
with :meth:`torch.Tensor.unfold` (a view, no copy) and each batch is gathered from that view with one
advanced-index operation. Memory stays O(T x F) however many windows there are.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from forecaster.config import Config
from forecaster.data import known
from forecaster.data.features import (
    DEFAULT_KNOWN,
    FeatureSpec,
    Inputs,
    build_features,
    fit_group_spec,
    forecast_columns,
)
from forecaster.data.group import SeriesGroup
from forecaster.data.series import Series
from forecaster.data.shards import EpochBatchSampler, shard_sampler
from forecaster.data.splits import (
    SPLIT_NAMES,
    SPLITS,
    Bounds,
    Cuts,
    check_split,
    cuts_for,
    origins_in,
    split_rows,
    window_starts,
)
from forecaster.errors import DataError


# -- batched window dataset -------------------------------------------------------------------------
class WindowDataset(Dataset):
    """Windows over one shared (T, F) tensor, gathered a whole batch per ``__getitem__``.

    ``data``: (T, F) float32, column 0 the target in units (for a group: the members' matrices one
    after another). ``starts``: (N,) first input row of each window. ``members``: (N,) the member
    of each window, returned as the last item when ``with_member`` (for a learned series
    embedding). ``n_known``: K, the last columns of ``data`` are the known-ahead block (see
    :mod:`forecaster.data.features`). ``ds[positions]`` with B positions (a list or tensor, as a
    BatchSampler yields them) returns ``x`` (B, L, F) and ``y`` (B, H), the target in units[,
    ``future`` (B, H, K): the known-ahead block of the horizon rows, when K > 0][, ``member`` (B,)
    int64].
    """

    def __init__(
        self,
        data: torch.Tensor,
        starts: np.ndarray,
        lookback: int,
        horizon: int,
        members: np.ndarray | None = None,
        with_member: bool = False,
        n_known: int = 0,
    ):
        self.data = data
        self.lookback, self.horizon = lookback, horizon
        self.n_known = n_known
        self.windows = data.unfold(0, lookback + horizon, 1)  # (T - L - H + 1, F, L + H), a view
        self.starts = torch.as_tensor(starts, dtype=torch.long)
        members = np.zeros(len(starts), dtype=np.int64) if members is None else members
        self.members = torch.as_tensor(members, dtype=torch.long)
        self.with_member = with_member

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, positions):
        positions = torch.as_tensor(positions, dtype=torch.long)
        single = positions.ndim == 0
        flat = positions.reshape(-1)
        w = self.windows[self.starts[flat]].transpose(1, 2)  # (B, L + H, F)
        x, y = w[:, : self.lookback].contiguous(), w[:, self.lookback :, 0].contiguous()
        out: tuple[torch.Tensor, ...] = (x, y)
        if self.n_known:  # the known-ahead block over the horizon rows: (B, H, K)
            out += (w[:, self.lookback :, -self.n_known :].contiguous(),)
        if self.with_member:
            out += (self.members[flat],)
        return tuple(part[0] for part in out) if single else out


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
def inputs_of(cfg: Config, members: Sequence[Series]) -> Inputs:
    """The inputs ``cfg`` asks for: covariates and calendar of the lookback; columns known ahead
    (``data.future_covariates``, and the weather forecasts the loader attached); built-in
    features of each step (``model.known``; None: :data:`~forecaster.data.features.DEFAULT_KNOWN`)
    and the place their sun position is computed for."""
    first = members[0]
    site = known.site_of(cfg.data)
    names = DEFAULT_KNOWN if cfg.model.known is None else cfg.model.known
    known.check_known(names, freq=first.freq, site=site)
    future = [*cfg.data.future_covariates, *forecast_columns(first)]
    return Inputs(
        covariates=cfg.data.covariates,
        calendar=cfg.model.calendar,
        future=tuple(dict.fromkeys(future)),
        known=tuple(names),
        site=None
        if site is None or not known.needs_site(names)
        else (site.latitude, site.longitude),
    )


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


class WindowDataModule(SplitLoaders, pl.LightningDataModule):
    """Features, scaler (fitted on training rows only), chronological splits and batch loaders for
    one series or a group of series; one series is a group of one.

    Layout, for M members where member i has T_i rows and F features (L = lookback, H = horizon)::

        data     (sum T_i, F) float32   the members' feature matrices one after another
        offsets  (M + 1,) int64         member i owns rows [offsets[i], offsets[i + 1]) of data
        windows  (sum T_i - L - H + 1, F, L + H)   data.unfold(0, L + H, 1): a view, no copy
        starts   (N,) int64             rows of data where a split's windows start

    No window crosses from one member into the next, and every window lies inside one split of its
    member (:mod:`forecaster.data.splits`: one date cut for the whole group). Memory stays
    O(sum T_i x F) however many windows there are.

    ``spec``: reuse a saved feature spec instead of fitting one. ``with_member``: batches are
    ``(x, y, member)`` instead of ``(x, y)``. :meth:`setup` is idempotent. After it: ``data``,
    ``offsets``, ``cuts``, ``bounds`` (per member, its row ranges per split), ``datasets`` (per
    split) and ``counts`` (windows per member and split). Under a multi-device Trainer each
    process's loaders draw only its share of the windows (:mod:`forecaster.data.shards`).
    """

    def __init__(
        self,
        group: Series | SeriesGroup | Sequence[Series],
        cfg: Config,
        spec: FeatureSpec | None = None,
        *,
        with_member: bool = False,
    ):
        super().__init__()
        members = (group,) if isinstance(group, Series) else tuple(group)
        self.members: tuple[Series, ...] = members
        self.name = group.name if isinstance(group, SeriesGroup) else members[0].symbol
        self.cfg, self.spec, self.with_member = cfg, spec, with_member
        self.lookback, self.horizon = cfg.model.lookback, cfg.model.horizon
        self.data: torch.Tensor | None = None
        self.offsets = np.zeros(len(members) + 1, dtype=np.int64)
        self.cuts: Cuts | None = None
        self.bounds: list[Bounds] = []
        self.datasets: dict[str, WindowDataset] = {}
        self.counts: dict[str, list[int]] = {}

    def member_data(self, i: int) -> torch.Tensor:
        """Member ``i``'s (T_i, F) feature matrix: a view into ``data``."""
        assert self.data is not None, "call setup() first"
        return self.data[int(self.offsets[i]) : int(self.offsets[i + 1])]

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        t = self.cfg.train
        self.cuts = cuts_for([s.index for s in self.members], t)
        self.bounds = [split_rows(s.index, self.cuts) for s in self.members]
        self._check_splits()
        if self.spec is None:
            train_rows = [b["train"][1] for b in self.bounds]
            self.spec = fit_group_spec(self.members, inputs_of(self.cfg, self.members), train_rows)
        # one copy of the features, filled member by member; every window below is a view into it
        self.offsets = np.concatenate([[0], np.cumsum([len(s) for s in self.members])])
        self.data = torch.empty((int(self.offsets[-1]), self.spec.n_features), dtype=torch.float32)
        for i, series in enumerate(self.members):
            self.member_data(i).copy_(torch.from_numpy(build_features(series, self.spec)))
        for split in SPLITS:
            self.datasets[split] = self._dataset(split, t.stride if split == "train" else 1)
        self._generator = torch.Generator().manual_seed(t.seed)

    def _dataset(self, split: str, stride: int) -> WindowDataset:
        L, H = self.lookback, self.horizon
        per_member = [
            window_starts(lo, hi, L + H, stride) + self.offsets[i]
            for i, (lo, hi) in enumerate(b[split] for b in self.bounds)
        ]
        self.counts[split] = [len(s) for s in per_member]
        members = np.repeat(np.arange(len(self.members)), self.counts[split])
        starts = np.concatenate(per_member)
        return WindowDataset(self.data, starts, L, H, members, self.with_member, self.spec.n_known)

    def _check_splits(self) -> None:
        """One-line DataError unless the train and val splits hold a full window (of some member)."""
        L, H = self.lookback, self.horizon
        if len(self.members) == 1:  # the message can name the one series' rows and the fix
            series = self.members[0]
            for split in ("train", "val"):
                label = f"{series.source}:{series.symbol}"
                check_split(label, len(series), self.bounds[0], split, L, H)
            return
        for split in ("train", "val"):
            if any(len(origins_in(b[split], L, H)) for b in self.bounds):
                continue
            assert self.cuts is not None
            cut = f"{self.cuts.train_end:%Y-%m-%d %H:%M %Z}"
            span = {"train": f"before {cut}", "val": f"from {cut}"}[split]
            rows = ", ".join(
                f"{s.symbol} {b[split][1] - b[split][0]}"
                for s, b in zip(self.members, self.bounds, strict=True)
            )
            raise DataError(
                f"group {self.name}: no member has a full {SPLIT_NAMES[split]} window (rows {span}: "
                f"{rows}; lookback {L} + horizon {H}) — use a longer span, other split fractions or "
                "dates, or shorter --lookback/--horizon"
            )

    def member_origins(self, split: str) -> list[np.ndarray]:
        """Per member, the origins (rows of its own series, stride 1) of every window of ``split``:
        origin ``o`` forecasts rows ``[o, o + H)`` from ``[o - L, o)``, all inside the split."""
        return [origins_in(b[split], self.lookback, self.horizon) for b in self.bounds]
