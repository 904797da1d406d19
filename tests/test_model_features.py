"""Input features: derived stock covariates, calendar sin/cos, the training-rows-only scaler, causality."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forecaster.data.features import (
    FeatureSpec,
    build_features,
    default_calendar,
    default_covariates,
    fit_spec,
    raw_covariate,
)
from forecaster.errors import DataError


@pytest.fixture(scope="module")
def stock(aapl):
    return aapl.with_frame(aapl.frame.iloc[:300])


@pytest.fixture(scope="module")
def weather(greensboro):
    return greensboro.with_frame(greensboro.frame.iloc[:500])


def test_stock_covariates_by_hand(stock):
    f = stock.frame
    ret = raw_covariate(stock, "log_return")
    assert ret[0] == 0.0  # no earlier price: undefined return is 0, not a peek ahead
    assert ret[1] == pytest.approx(np.log(f["close"].iloc[1] / f["close"].iloc[0]))
    ret5 = raw_covariate(stock, "log_return_5")
    assert (ret5[:5] == 0).all()
    assert ret5[7] == pytest.approx(np.log(f["close"].iloc[7] / f["close"].iloc[2]))
    rng = raw_covariate(stock, "range")
    assert rng[3] == pytest.approx((f["high"].iloc[3] - f["low"].iloc[3]) / f["close"].iloc[3])
    assert raw_covariate(stock, "log_volume")[4] == pytest.approx(np.log1p(f["volume"].iloc[4]))


def test_defaults_by_kind_and_frequency(stock, weather):
    assert default_covariates(stock) == ["log_return", "range", "log_volume"]
    assert default_covariates(weather) == [
        c for c in weather.frame.columns if c != "temperature_2m"
    ]
    assert default_calendar("h") == ["hour", "dayofyear"]
    assert default_calendar("B") == default_calendar("D") == ["dayofweek", "dayofyear"]


def test_feature_matrix_layout_and_scaler_on_training_rows(weather):
    spec = fit_spec(weather, None, None, train_rows=300)
    x = build_features(weather, spec)
    assert x.dtype == np.float32 and x.shape == (len(weather), spec.n_features) == (500, 1 + 6 + 4)
    assert spec.names[0] == "temperature_2m" and spec.names[-1] == "dayofyear_cos"
    np.testing.assert_allclose(x[:, 0], weather.values, rtol=1e-6)  # target stays in °C
    cov = x[:300, 1:7].astype(np.float64)
    np.testing.assert_allclose(cov.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(cov.std(axis=0), 1, atol=1e-4)
    assert np.abs(x[:, 7:]).max() <= 1.0
    hour = weather.index.hour.to_numpy()
    np.testing.assert_allclose(x[:, 7], np.sin(2 * np.pi * hour / 24), atol=1e-6)


def test_spec_round_trips_through_json(stock):
    spec = fit_spec(stock, ["log_return", "range", "log_volume", "close"], None, train_rows=200)
    assert spec.covariates == (
        "log_return",
        "range",
        "log_volume",
    )  # the target is column 0, not a covariate
    back = FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    np.testing.assert_array_equal(build_features(stock, back), build_features(stock, spec))


def test_features_are_causal(stock):
    spec = fit_spec(stock, None, None, train_rows=200)
    before = build_features(stock, spec)
    frame = stock.frame.copy()
    frame.iloc[150:] *= 3.0  # change everything from row 150 on
    after = build_features(stock.with_frame(frame), spec)
    np.testing.assert_array_equal(before[:150], after[:150])
    assert not np.array_equal(before[150:], after[150:])


def test_unknown_covariate_is_a_one_line_data_error(weather):
    with pytest.raises(DataError, match="unknown covariate 'humidity'") as exc:
        fit_spec(weather, ["humidity"], None, train_rows=100)
    assert "\n" not in str(exc.value)
    with pytest.raises(DataError, match="needs column 'volume'"):
        fit_spec(weather, ["log_volume"], None, train_rows=100)
