"""The metric and interval tables of a backtest as people read them: formatted numbers, unit titles."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.backtest.metrics import INTERVAL_METRICS, METRICS, UNITS
from forecaster.backtest.result import BacktestResult
from forecaster.intervals import level_name


def unit_suffix(result: BacktestResult) -> str:
    """`` (°C)`` after a title: the target's unit in parentheses, or nothing without one."""
    return f" ({result.unit})" if result.unit else ""


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """Every number with three decimals and thousands separators; ``–`` where missing or infinite."""
    return table.map(lambda v: "–" if v is None or not np.isfinite(v) else f"{v:,.3f}")


def metric_headers(unit: str) -> list[str]:
    """Column titles with units: target units become the series' own (``mae (°C)``)."""
    units = {m: (unit if u == "target units" else u) for m, u in UNITS.items()}
    return [f"{m} ({units[m]})" if units[m] and units[m] != "ratio" else m for m in METRICS]


def interval_frame(result: BacktestResult) -> pd.DataFrame:
    """The intervals table: index (method, level); coverage (%), width, winkler, pinball (target
    units), and ``short origins``: how many origins had too few calibration residuals."""
    table = result.interval_metrics.copy()
    table["short origins"] = [int(result.interval_short[m][lv].sum()) for m, lv in table.index]
    return table


def interval_headers(unit: str) -> list[str]:
    """Column titles of the intervals table, with the target's ``unit`` where it applies."""
    u = f" ({unit})" if unit else ""
    return ["coverage (%)", f"width{u}", f"Winkler{u}", f"pinball{u}", "short origins"]


def interval_rows(result: BacktestResult) -> pd.DataFrame:
    """The intervals table formatted for people: method, level, then :func:`interval_headers`."""
    table = interval_frame(result)
    shown = formatted(table[list(INTERVAL_METRICS)])
    shown["short origins"] = table["short origins"].astype(str)
    shown.columns = interval_headers(result.unit)
    shown.insert(0, "level", [f"{level_name(lv)}%" for _, lv in table.index])
    shown.insert(0, "method", [m for m, _ in table.index])
    return shown.reset_index(drop=True)
