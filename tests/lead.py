"""A fitted model whose learned correction is in use (blend 1, not its anchor), for leakage tests.

The series is built so the network clearly beats every anchor: the target follows a covariate
three steps behind (``y[t] = 20 + 2 x[t - 3] + noise``, x an AR(1)), so the next H = 3 targets are
in the covariate's last three values, which naive, seasonal naive and drift cannot read. A model
that ended as its anchor would ignore the covariates and the learned correction altogether, so a
leak in either could not show; this one forecasts through both.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from forecaster.config import Config, override
from forecaster.data.series import Series, validate

L, H = 20, 3
LEAD = {
    "model.lookback": L,
    "model.horizon": H,
    "model.hidden_size": 16,
    "model.num_layers": 1,
    "model.calendar": [],
    "data.covariates": ["x"],
    "train.max_epochs": 5,
    "train.batch_size": 32,
    "train.learning_rate": 0.01,
    "train.progress_bar": False,
    "train.logger": "none",
}


def lead_series(n: int = 1200, seed: int = 0) -> Series:
    """Daily ``y`` (the target) and ``x`` (a covariate three steps ahead of it), ``n`` rows."""
    rng = np.random.default_rng(seed)
    x, e = np.zeros(n), rng.normal(size=n)
    for t in range(1, n):
        x[t] = 0.3 * x[t - 1] + e[t]
    y = 20.0 + np.concatenate([np.zeros(H), 2.0 * x[:-H]]) + 0.1 * rng.normal(size=n)
    index = pd.date_range("2010-01-01", periods=n, freq="D", tz="UTC")
    return validate(pd.DataFrame({"y": y, "x": x}, index=index), "y", freq="D", symbol="lead")


def lead_config(**over) -> Config:
    return override(Config(), LEAD | over)


@functools.lru_cache(maxsize=1)
def lead_model():
    """(the fitted model, its series): trained once per test session, deterministically."""
    from forecaster.training import fit_model

    series = lead_series()
    return fit_model(series, lead_config()), series


def rewritten(series, column: str, cut: int):
    """``series`` with ``column`` changed from row ``cut`` on (by several standard deviations)."""
    frame = series.frame.copy()
    values = frame[column].to_numpy(dtype=float)
    frame[column] = np.where(
        np.arange(len(frame)) >= cut, values + 5.0 * values.std() + 3.0, values
    )
    return series.with_frame(frame)
