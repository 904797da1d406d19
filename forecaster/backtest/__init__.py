"""Walk-forward backtests: the engine, baselines, metrics (pure functions) and the Plotly report.

Imports run one way: this package reads :mod:`forecaster.data.series` and :mod:`forecaster.config`
and never the CLI, the API or the models; a model is anything that satisfies
:class:`WindowForecaster`.
"""

from __future__ import annotations

from forecaster.backtest.baselines import (
    BASELINES,
    REGISTRY,
    Baseline,
    BaselineInputs,
    IntervalLag,
    baseline_forecasts,
    best_baseline,
    drift,
    moving_average,
    naive,
    ridge,
    ridge_fit,
    ridge_predict,
    season_for,
    seasonal_naive,
    usable_baselines,
)
from forecaster.backtest.charts import forecast_chart, forecast_chart_figure
from forecaster.backtest.engine import (
    BacktestResult,
    WindowForecaster,
    backtest_span,
    make_origins,
    run_backtest,
)
from forecaster.backtest.figures import build_figures
from forecaster.backtest.metrics import (
    METRICS,
    directional_accuracy,
    mae,
    mape,
    mase,
    metric_table,
    naive_scale,
    rmse,
    skill,
    smape,
    step_metric_table,
)
from forecaster.backtest.report import write_report

__all__ = [
    "BASELINES",
    "METRICS",
    "REGISTRY",
    "BacktestResult",
    "Baseline",
    "BaselineInputs",
    "IntervalLag",
    "WindowForecaster",
    "backtest_span",
    "baseline_forecasts",
    "best_baseline",
    "build_figures",
    "directional_accuracy",
    "drift",
    "forecast_chart",
    "forecast_chart_figure",
    "mae",
    "make_origins",
    "mape",
    "mase",
    "metric_table",
    "moving_average",
    "naive",
    "naive_scale",
    "ridge",
    "ridge_fit",
    "ridge_predict",
    "rmse",
    "run_backtest",
    "season_for",
    "seasonal_naive",
    "skill",
    "smape",
    "step_metric_table",
    "usable_baselines",
    "write_report",
]
