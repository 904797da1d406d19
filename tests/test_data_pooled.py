"""Pooled windows over a group: views into one tensor, never across members, batches gathered in one
index, splits by time across the group (no member's future in another's training), the group spec."""

from __future__ import annotations

import datetime as dt

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.config import Config, override
from forecaster.data.features import build_features
from forecaster.data.group import from_series
from forecaster.data.series import validate
from forecaster.data.splits import cut_times as group_cuts
from forecaster.data.splits import split_rows as member_bounds
from forecaster.data.windows import WindowDataModule as GroupDataModule
from forecaster.errors import DataError
from forecaster.fitted import build_module

L, H = 20, 5


def cfg(**over) -> Config:
    return override(Config(), {"model.lookback": L, "model.horizon": H, **over})


@pytest.fixture(scope="module")
def stocks():
    from forecaster.data.sources import snapshot

    # members of different lengths and spans: FB starts in 2012, GOOG in 2004
    return from_series("stocks", [snapshot.load_named(t) for t in ("AAPL", "GOOG", "FB")])


@pytest.fixture(scope="module")
def dm(stocks):
    dm = GroupDataModule(stocks, cfg(), with_member=True)
    dm.setup()
    return dm


def _window_rows(dm, split):
    """Per window of ``split``: its member and its (member-local) first and last row."""
    ds = dm.datasets[split]
    members = ds.members.numpy()
    local = ds.starts.numpy() - dm.offsets[members]
    return members, local, local + L + H - 1


def test_windows_are_views_into_one_tensor_and_never_cross_members(dm, stocks):
    ptr = dm.data.untyped_storage().data_ptr()
    for split, ds in dm.datasets.items():
        assert ds.windows.untyped_storage().data_ptr() == ptr, split  # unfold view, no copy
        members, first, last = _window_rows(dm, split)
        sizes = np.diff(dm.offsets)[members]
        assert (first >= 0).all() and (last < sizes).all(), split  # inside its own member
    for i, series in enumerate(stocks):
        view = dm.member_data(i)
        assert view.untyped_storage().data_ptr() == ptr and len(view) == len(series)
        assert torch.equal(view, torch.from_numpy(build_features(series, dm.spec)))
    assert dm.data.shape == (sum(len(s) for s in stocks), dm.spec.n_features)


def test_a_pooled_batch_is_the_members_own_windows(dm, stocks):
    ds = dm.datasets["train"]
    picks = torch.tensor([0, len(ds) // 2, len(ds) - 1, 7])
    x, y, member = ds[picks]  # one advanced index for the whole batch
    assert (
        x.shape == (4, L, dm.spec.n_features) and y.shape == (4, H) and member.dtype == torch.long
    )
    for row, pos in enumerate(picks.tolist()):
        i = int(member[row])
        start = int(ds.starts[pos] - dm.offsets[i])
        own = torch.from_numpy(build_features(stocks.members[i], dm.spec))
        assert torch.equal(x[row], own[start : start + L])
        close = stocks.members[i].values[start + L : start + L + H]
        np.testing.assert_allclose(y[row].numpy(), close, rtol=1e-6)
    assert set(ds.members.tolist()) == {0, 1}  # FB (from 2012) has no training window
    assert dm.counts["train"][2] == 0 and dm.counts["test"][2] > 0


def test_no_training_window_reaches_any_members_validation_period(dm, stocks):
    members, first, last = _window_rows(dm, "train")
    index = [s.index for s in stocks]
    latest = max(index[m][e] for m, e in zip(members, last, strict=True))
    val_starts = [
        index[i][b["val"][0]] for i, b in enumerate(dm.bounds) if b["val"][1] > b["val"][0]
    ]
    assert latest < min(val_starts) and latest < dm.cuts.train_end
    members, first, last = _window_rows(dm, "val")
    latest_val = max(index[m][e] for m, e in zip(members, last, strict=True))
    test_starts = [index[i][b["test"][0]] for i, b in enumerate(dm.bounds)]
    assert latest_val < min(test_starts)
    # the cut is one instant for the whole group: AAPL's and GOOG's validation start together
    assert index[0][dm.bounds[0]["val"][0]] == index[1][dm.bounds[1]["val"][0]]


def test_date_cuts_are_one_instant_across_time_zones():
    days = pd.bdate_range("2020-01-01", periods=60)
    frame = pd.DataFrame({"close": np.arange(60.0) + 1.0}, index=days)
    ny = validate(frame, "close", tz="America/New_York", symbol="ny")
    tokyo = validate(frame, "close", tz="Asia/Tokyo", symbol="tokyo")
    cuts = group_cuts(
        [ny.index, tokyo.index],
        val_fraction=0.2,
        test_fraction=0.1,
        train_end=dt.date(2020, 2, 3),
        val_end=dt.date(2020, 2, 17),
    )
    assert cuts.train_end == pd.Timestamp("2020-02-03", tz="Asia/Tokyo")  # the earliest midnight
    for s in (ny, tokyo):
        lo, hi = member_bounds(s.index, cuts)["train"]
        assert s.index[hi - 1] < cuts.train_end <= s.index[hi]
    # by fraction: the union of both members' stamps is cut, as one series would be
    frac = group_cuts([ny.index, tokyo.index], val_fraction=0.2, test_fraction=0.1)
    union = ny.index.union(tokyo.index)
    assert frac.train_end == union[len(union) - 24 - 12] and frac.val_end == union[len(union) - 12]


def test_the_group_spec_is_fitted_on_training_rows_only(stocks):
    a = GroupDataModule(stocks, cfg())
    a.setup()
    changed = []
    for s, b in zip(stocks, a.bounds, strict=True):
        frame = s.frame.copy()
        frame.iloc[b["train"][1] :, frame.columns.get_loc("volume")] *= 1000.0  # after the cut
        changed.append(s.with_frame(frame))
    b = GroupDataModule(from_series("stocks", changed), cfg())
    b.setup()
    assert a.spec == b.spec
    assert a.spec.covariates == ("log_return", "range", "log_volume")


def test_a_group_without_training_windows_is_one_line(stocks):
    late = GroupDataModule(stocks, cfg(**{"train.train_end": "2000-03-10"}))
    with pytest.raises(DataError, match=r"no member has a full training window .*AAPL 7") as exc:
        late.setup()
    assert "\n" not in str(exc.value)


@pytest.mark.filterwarnings("ignore:.*LeafSpec.*")
def test_the_gru_trains_on_a_group_datamodule(stocks):
    conf = cfg(**{"model.hidden_size": 8, "model.num_layers": 1, "model.anchor": "naive"})
    dm = GroupDataModule(stocks, conf)  # (x, y) batches: the network needs no change
    dm.setup()
    module = build_module(conf, dm.spec.n_features)
    trainer = pl.Trainer(
        fast_dev_run=2, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.fit(module, datamodule=dm)
    assert trainer.state.finished and np.isfinite(float(trainer.callback_metrics["train_loss"]))
    origins = dm.member_origins("val")
    assert [len(o) for o in origins] == dm.counts["val"]
    assert all((o >= L).all() for o in origins if len(o))
