"""The Python API: what the ``forecast`` CLI, the nightly job and notebooks all call.

Typical use in a notebook::

    from forecaster import api
    cfg = api.make_config(ticker="AAPL", overrides={"model.lookback": 30, "train.max_epochs": 5})
    series = api.load_data(cfg)
    result = api.fit(cfg, series=series)        # trains, evaluates, saves a model version
    result.model.predict(series)                 # next `horizon` steps, in the target's units
    bt = api.backtest(cfg, model="latest")       # walk-forward against baselines + HTML report

One path serves one series and a group of series (``--ticker AAPL,MSFT,IBM``: one global model),
a single series being a group of one. This module is the facade: the work lives in
:mod:`forecaster.fitting` (fit and save), :mod:`forecaster.serving` (which model serves a series,
predict), :mod:`forecaster.backtesting` (walk-forward backtests and their reports) and the
packages below them (``data``, ``models``, ``training``, ``backtest``, ``registry``).
"""

from __future__ import annotations

from forecaster.backtesting import BacktestReport, GroupBacktestReport, backtest
from forecaster.config import Config, make_config
from forecaster.data.group import SeriesGroup, load_group, member_config, store_key
from forecaster.data.loader import load_series
from forecaster.data.series import Series
from forecaster.fitting import FitResult, fit, load_members, store
from forecaster.forecast_inputs import with_forecasts
from forecaster.serving import PredictResult, load_model, predict
from forecaster.training import fit_model

__all__ = [
    "make_config",
    "load_data",
    "load_members",
    "store",
    "fit",
    "FitResult",
    "fit_model",
    "load_model",
    "predict",
    "PredictResult",
    "backtest",
    "backtest_group",
    "BacktestReport",
    "GroupBacktestReport",
    "load_group",
    "member_configs",
    "store_key",
    "SeriesGroup",
]


def load_data(cfg: Config, *, refresh: bool = True) -> Series:
    """The series a config describes (live source, cache or bundled snapshot; see the loader),
    with the weather forecasts it reads as issued (:mod:`forecaster.forecast_inputs`)."""
    return with_forecasts(load_series(cfg.data, refresh=refresh), cfg)


def backtest_group(cfg: Config, **kwargs) -> GroupBacktestReport:
    """:func:`backtest` of a config that names a group (kept for callers of the group form)."""
    report = backtest(cfg, **kwargs)
    assert isinstance(report, GroupBacktestReport), "the config names one series, not a group"
    return report


def member_configs(cfg: Config) -> list[Config]:
    """One config per member of the group ``cfg`` names (the same settings, one series each)."""
    if cfg.data.group is None:
        return [cfg]
    return [
        cfg.model_copy(update={"data": member_config(cfg.data, symbol)})
        for symbol in cfg.data.group.symbols
    ]


def __getattr__(name: str):
    """``api.tune`` and ``api.Budget`` (:mod:`forecaster.tuning`), imported on first use: Optuna
    loads only for a search."""
    if name in ("tune", "Budget", "TuneResult"):
        from forecaster import tuning

        return getattr(tuning, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
