"""The one rule for a group's score: each member's error relative to its own naive, averaged."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecaster.backtest.pooling import METRICS, Scores, pool_members


def scores(mae: float, rmse: float, smape: float, **coverage: float) -> Scores:
    return Scores(mae, rmse, smape, {float(k.removeprefix("c")): v for k, v in coverage.items()})


def test_members_on_different_scales_count_alike():
    """A 600-USD stock's errors do not drown a 25-USD one's: both are relative to their naive."""
    per_member = {
        "BIG": {"naive": scores(10.0, 20.0, 2.0), "gru": scores(5.0, 10.0, 1.0)},  # half of naive
        "SMALL": {"naive": scores(0.2, 0.4, 2.0), "gru": scores(0.3, 0.6, 3.0)},  # 1.5 x naive
    }
    pooled = pool_members(per_member)
    assert list(pooled) == ["naive", "gru"]
    assert pooled["naive"] == Scores(1.0, 1.0, 1.0, {})
    gru = pooled["gru"]
    assert (gru.mae, gru.rmse, gru.smape) == pytest.approx((1.0, 1.0, 1.0), rel=1e-12)


def test_a_group_of_one_ranks_methods_as_the_plain_metric():
    rng = np.random.default_rng(0)
    for _ in range(50):
        methods = {
            name: Scores(*rng.uniform(0.01, 100.0, size=3))
            for name in ("naive", "drift", "ridge", "challenger", "champion")
        }
        pooled = pool_members({"ONLY": methods})
        for metric in METRICS:
            plain = sorted(methods, key=lambda m: methods[m].error(metric))
            assert sorted(pooled, key=lambda m: pooled[m].error(metric)) == plain
            ratio = methods["drift"].error(metric) / methods["naive"].error(metric)
            assert pooled["drift"].error(metric) == pytest.approx(ratio, rel=1e-12)


def test_coverage_is_averaged_per_level():
    per_member = {
        "A": {"naive": scores(1, 1, 1, c80=70.0, c95=90.0), "gru": scores(1, 1, 1, c80=80.0)},
        "B": {"naive": scores(2, 2, 2, c80=90.0, c95=96.0), "gru": scores(1, 1, 1, c80=60.0)},
    }
    pooled = pool_members(per_member)
    assert pooled["naive"].coverage == {80.0: 80.0, 95.0: 93.0}
    assert pooled["gru"].coverage == {80.0: 70.0}


def test_a_method_some_member_lacks_is_averaged_over_the_others():
    per_member = {
        "LONG": {"naive": scores(2, 2, 2), "seasonal_naive": scores(1, 1, 1)},
        "SHORT": {"naive": scores(4, 4, 4)},  # too short for a season
    }
    assert pool_members(per_member)["seasonal_naive"].mae == 0.5


def test_non_finite_errors_stay_non_finite():
    per_member = {
        "A": {"naive": scores(1, 1, 1), "gru": Scores.infinite()},
        "B": {"naive": scores(1, 1, 1), "gru": scores(0.5, 0.5, 0.5)},
    }
    assert pool_members(per_member)["gru"].mae == math.inf


def test_a_member_with_a_perfect_naive_counts_unscaled():
    per_member = {"FLAT": {"naive": scores(0.0, 0.0, 0.0), "drift": scores(0.1, 0.2, 0.3)}}
    pooled = pool_members(per_member)
    assert (pooled["naive"].mae, pooled["drift"].mae) == (0.0, 0.1)  # still ranked as plain


def test_every_member_needs_the_reference():
    with pytest.raises(ValueError, match="naive"):
        pool_members({"A": {"drift": scores(1, 1, 1)}})
    assert pool_members({}) == {}


def test_the_fit_table_and_the_nightly_holdout_pool_alike():
    """One rule: evaluate.pooled (fit table, group backtest) and pool_members (nightly holdout)."""
    from forecaster.backtest.evaluate import pooled
    from forecaster.backtest.pooling import Scores, pool_members

    errors = {
        "A": {"naive": (2.0, 3.0), "gru": (1.0, 2.0), "drift": (2.5, 3.5)},
        "B": {"naive": (200.0, 300.0), "gru": (180.0, 240.0), "drift": (150.0, 330.0)},
        "C": {"naive": (0.0, 0.0), "gru": (0.5, 0.7), "drift": (0.25, 0.5)},  # cannot be scaled
    }
    table = pooled(
        {
            m: {k: {"mae": a, "rmse": b, "windows": 3} for k, (a, b) in e.items()}
            for m, e in errors.items()
        },
        ["naive", "gru", "drift"],
    )
    holdout = pool_members(
        {m: {k: Scores(a, b, 1.0) for k, (a, b) in e.items()} for m, e in errors.items()}
    )
    for method in ("naive", "gru", "drift"):
        assert table[method]["mae"] == holdout[method].mae
        assert table[method]["rmse"] == holdout[method].rmse
    assert table["gru"]["mae"] == (0.5 + 0.9 + 0.5) / 3


def test_a_member_too_short_for_naive_is_left_out_of_the_pooled_table():
    """A group member whose split had no history for the baselines (FB beside 14 years of AAPL)
    cannot be scaled by its naive error: the pooled table leaves it out instead of failing."""
    import numpy as np

    from forecaster.backtest.evaluate import Evaluation, MemberEvaluation

    def member(symbol, forecasts):
        actual = np.arange(12.0).reshape(4, 3)
        return MemberEvaluation(symbol, np.arange(4), actual, forecasts, actual + 1, actual + 1)

    ones = np.arange(12.0).reshape(4, 3) + 1
    long = member("AAPL", {"gru": ones, "naive": ones + 1, "drift": ones + 2})
    short = member("FB", {"gru": ones})  # no history for any baseline
    table = Evaluation("gru", "test", 5, {"AAPL": long, "FB": short}).table()
    assert list(table.index) == ["gru", "naive", "drift"]
    assert table.loc["gru", "mae"] == 0.5 and table.loc["naive", "mae"] == 1.0
