"""Sliding windows: alignment, splits that no window straddles, views not copies, batched loading."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

from forecaster.config import Config, override
from forecaster.data.splits import cut_times, cuts_for, origins_in, split_rows, window_starts
from forecaster.data.windows import WindowDataModule
from forecaster.errors import DataError

L, H = 10, 3


def make_cfg(**over):
    base = {"model.lookback": L, "model.horizon": H, "train.batch_size": 16, "train.seed": 7}
    return override(Config(), base | over)


@pytest.fixture
def stock(aapl):
    return aapl.with_frame(aapl.frame.iloc[:200])


@pytest.fixture
def dm(stock):
    module = WindowDataModule(stock, make_cfg())
    module.setup()
    return module


def split_bounds(index, **kw):
    return split_rows(index, cut_times([index], **kw))


def test_split_bounds_by_fraction_and_by_date(stock):
    b = split_bounds(stock.index, val_fraction=0.15, test_fraction=0.15)
    assert b == {"train": (0, 140), "val": (140, 170), "test": (170, 200)}
    d = split_bounds(
        stock.index,
        val_fraction=0.15,
        test_fraction=0.15,
        train_end=dt.date(2000, 8, 1),
        val_end=dt.date(2000, 10, 2),
    )
    train_end, val_end = d["train"][1], d["val"][1]
    assert stock.index[train_end - 1] < stock.index[train_end].normalize() == stock.index[train_end]
    assert str(stock.index[train_end].date()) == "2000-08-01"
    assert str(stock.index[val_end].date()) == "2000-10-02" and d["test"] == (val_end, 200)


def test_window_starts_by_hand():
    np.testing.assert_array_equal(window_starts(0, 20, 13), [0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(window_starts(5, 30, 13, stride=5), [5, 10, 15])
    assert len(window_starts(0, 12, 13)) == 0


def test_window_alignment_target_starts_right_after_lookback(dm, stock):
    ds = dm.datasets["train"]
    x, y = ds[[0, 7]]
    assert x.shape == (2, L, dm.spec.n_features) and y.shape == (2, H)
    close = torch.tensor(stock.values, dtype=torch.float32)
    # window 7 starts at row 7: inputs rows 7..16, targets rows 17..19
    torch.testing.assert_close(x[1, :, 0], close[7:17])
    torch.testing.assert_close(y[1], close[17:20])
    torch.testing.assert_close(x[0], dm.data[0:10])
    assert (
        origins_in(split_rows(stock.index, cuts_for([stock.index], dm.cfg.train))["val"], L, H)[0]
        == 140 + L
    )  # the first validation forecast row


def test_no_window_straddles_two_splits(dm):
    for name, (lo, hi) in dm.bounds[0].items():
        starts = dm.datasets[name].starts.numpy()
        assert len(starts) == max(0, hi - lo - L - H + 1)
        assert starts.min() >= lo and (starts + L + H).max() <= hi


def test_windows_are_views_of_one_tensor(dm, stock):
    data = dm.data
    assert data.dtype == torch.float32 and data.shape == (len(stock), dm.spec.n_features)
    assert data.untyped_storage().nbytes() == data.numel() * 4  # O(T x F), nothing per window
    for ds in dm.datasets.values():
        assert ds.data is data
        assert ds.windows.untyped_storage().data_ptr() == data.untyped_storage().data_ptr()
        assert ds.windows.shape == (len(stock) - L - H + 1, dm.spec.n_features, L + H)


def test_loader_gathers_whole_batches_deterministically(stock):
    def first_epoch(seed):
        module = WindowDataModule(stock, make_cfg(**{"train.seed": seed}))
        module.setup()
        return list(module.train_dataloader())

    batches = first_epoch(1)
    n = 140 - L - H + 1
    assert len(batches) == -(-n // 16) and batches[0][0].shape == (16, L, 3 + 1 + 4)
    assert sum(len(y) for _, y in batches) == n  # every window once, the last batch partial
    again, other = first_epoch(1), first_epoch(2)
    torch.testing.assert_close(batches[0][1], again[0][1])
    assert not torch.equal(batches[0][1], other[0][1])


def test_no_leakage_from_rows_after_the_training_split(stock, dm):
    frame = stock.frame.copy()
    frame.iloc[140:] *= 5.0
    changed = WindowDataModule(stock.with_frame(frame), make_cfg())
    changed.setup()
    assert changed.spec == dm.spec  # scaler fitted on training rows only
    idx = torch.arange(len(dm.datasets["train"]))
    for a, b in zip(dm.datasets["train"][idx], changed.datasets["train"][idx], strict=True):
        torch.testing.assert_close(a, b)


def test_too_short_splits_are_clear_data_errors(stock):
    with pytest.raises(DataError, match="too short.*horizon 500") as exc:
        WindowDataModule(stock, make_cfg(**{"model.horizon": 500})).setup()
    assert "\n" not in str(exc.value)
    with pytest.raises(DataError, match="validation split has 30 rows.*needs 43"):
        WindowDataModule(stock, make_cfg(**{"model.lookback": 40})).setup()
