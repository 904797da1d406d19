"""Honest model selection on series whose best forecast is known.

* a random walk: the last value is the best forecast -> the fit must come back as naive;
* a noisy daily-period sine: seasonal naive (season 7) beats naive by far -> it is the anchor, and
  the model is never worse than it on validation;
* an AR(2) oscillation: the GRU must beat naive and seasonal naive by a clear margin.

Series are small and the network tiny, so each fit takes a few seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.backtest import baselines as bl
from forecaster.cli.text import anchor_summary, better_baseline_note
from forecaster.config import Config, override
from forecaster.data.series import validate
from forecaster.data.windows import WindowDataModule as SeriesDataModule
from forecaster.meta import AnchorMeta
from forecaster.selection import choose_anchor
from forecaster.training import fit_model

N = 1400
SMALL = {
    "model.lookback": 21,
    "model.horizon": 7,
    "model.hidden_size": 16,
    "model.num_layers": 1,
    "train.max_epochs": 20,
    "train.patience": 3,
    "train.batch_size": 64,
    "train.learning_rate": 0.005,
    "train.progress_bar": False,
    "train.logger": "none",
}


def daily(y: np.ndarray):
    index = pd.date_range("2015-01-01", periods=len(y), freq="D", tz="UTC")
    return validate(pd.DataFrame({"y": y}, index=index), "y", freq="D", symbol="synthetic")


def random_walk(seed=0):
    return daily(100 + np.cumsum(np.random.default_rng(seed).normal(size=N)))


def noisy_sine(seed=0):
    rng = np.random.default_rng(seed)
    return daily(10 * np.sin(2 * np.pi * np.arange(N) / 7) + rng.normal(0, 1.0, N))


def ar2(seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros(N)
    e = rng.normal(size=N)
    for t in range(2, N):
        y[t] = 1.5 * y[t - 1] - 0.75 * y[t - 2] + e[t]
    return daily(y)


def cfg(**over) -> Config:
    return override(Config(), SMALL | {"data.covariates": []} | over)


def val_baselines(model) -> dict[str, float]:
    origins = model.split_origins("val")
    y = model.series.values
    actual = y[origins[:, None] + np.arange(model.horizon)]
    return {
        "naive": float(np.abs(bl.naive(y, origins, model.horizon) - actual).mean()),
        "seasonal_naive": float(
            np.abs(bl.seasonal_naive(y, origins, model.horizon, 7) - actual).mean()
        ),
    }


@pytest.fixture(scope="module")
def walk_fit():
    return fit_model(random_walk(), cfg())


def test_random_walk_comes_back_as_naive(walk_fit):
    meta = walk_fit.meta
    assert meta.anchor.name == "naive"
    assert meta.anchor.is_anchor, meta.anchor
    base = val_baselines(walk_fit)
    # the saved model *is* the naive forecast, on validation and everywhere else
    assert walk_fit.metrics["val_mae"] == pytest.approx(base["naive"], rel=1e-6)
    origins = np.arange(30, N, 13)
    np.testing.assert_allclose(
        walk_fit.predict_origins(walk_fit.series, origins),
        bl.naive(walk_fit.series.values, origins, walk_fit.horizon),
        rtol=1e-5,
    )
    # nothing to learn: early stopping counts from epoch 0 and ends the run early
    assert meta.epochs_trained < SMALL["train.max_epochs"]
    assert meta.history[0]["epoch"] == 0


def test_the_fit_summary_says_the_anchor_won(walk_fit):
    line = anchor_summary(walk_fit)
    assert line == ("The GRU did not beat naive on validation; the saved model forecasts as naive.")


def test_seasonal_series_is_anchored_at_seasonal_naive():
    model = fit_model(noisy_sine(), cfg())
    base = val_baselines(model)
    assert model.meta.anchor.name == "seasonal_naive"
    assert model.config.model.anchor == "seasonal_naive"  # the resolved config names it
    assert model.metrics["val_mae"] <= min(base.values()) + 1e-9
    assert base["seasonal_naive"] < 0.5 * base["naive"]


def test_ar2_is_learned_far_beyond_both_baselines():
    model = fit_model(ar2(), cfg())
    base = val_baselines(model)
    assert not model.meta.anchor.is_anchor
    assert model.meta.anchor.selection["p_value"] < 0.01
    assert model.metrics["val_mae"] < 0.8 * min(base.values()), (model.metrics, base)


def test_anchor_choice_reads_only_the_training_split():
    """Rewriting validation and test rows must not change which anchor is chosen, or its scores."""
    series = noisy_sine()
    config = cfg()
    frame = series.frame.copy()
    cut = SeriesDataModule(series, config)
    cut.setup()
    train_end = cut.bounds[0]["train"][1]
    frame.iloc[train_end:, 0] = np.cumsum(np.ones(len(frame) - train_end))  # a different future
    changed = SeriesDataModule(series.with_frame(frame), config)
    changed.setup()
    a, b = choose_anchor(cut, config, "D"), choose_anchor(changed, config, "D")
    assert a == b and a.name == "seasonal_naive"


def test_a_named_anchor_that_does_not_fit_is_a_config_error():
    from forecaster.errors import ConfigError

    with pytest.raises(ConfigError, match="model.anchor=seasonal_naive"):
        fit_model(noisy_sine(), cfg(**{"model.anchor": "seasonal_naive", "backtest.season": 30}))


def test_only_a_real_gain_resets_early_stopping_but_the_best_epoch_is_still_kept():
    model = fit_model(ar2(), cfg(**{"train.patience": 2, "train.min_improvement": 0.9}))
    history = [h["val_mae"] for h in model.meta.history]
    assert model.meta.epochs_trained == 2  # no epoch gained 90% of the anchor's MAE
    assert model.meta.best_epoch == int(np.argmin(history)) > 0  # yet training helped


def test_the_fit_summary_names_a_baseline_that_beat_the_saved_model_on_validation():
    from types import SimpleNamespace

    model = SimpleNamespace(
        name="gru", meta=SimpleNamespace(anchor=AnchorMeta("naive", is_anchor=True))
    )
    table = pd.DataFrame(
        {"mae": [0.6923, 0.6923, 0.6858], "rmse": [0.93, 0.93, 0.92]},
        index=["gru", "naive", "drift"],
    )
    assert better_baseline_note(table, model) == [
        "Note: drift was 0.9% better on validation; the anchor is chosen on the training "
        "windows, where naive was best."
    ]
    table.loc["drift", "mae"] = 0.70  # the saved model is best: nothing to explain
    assert better_baseline_note(table, model) == []
