"""A fitted model driven by an input known ahead, for the tests of inputs known ahead.

``y[t] = 10 + 3 sin(2 pi t / 7) + 2 x[t] + 0.3 noise``, ``x`` white noise declared known ahead
(``data.future_covariates: [x]``): the best forecast of ``y[t]`` needs ``x[t]`` itself, which no
history-only forecast has, so the network must read each step's own input to win, and its
learned correction is in use (not a model that ended as its anchor).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from forecaster.config import Config, override
from forecaster.data.series import Series, validate

L, H = 21, 5
KNOWN = {
    "model.lookback": L,
    "model.horizon": H,
    "model.hidden_size": 16,
    "model.num_layers": 1,
    "model.calendar": [],
    "data.covariates": [],
    "data.future_covariates": ["x"],
    "train.max_epochs": 10,
    "train.batch_size": 32,
    "train.learning_rate": 0.01,
    "train.progress_bar": False,
    "train.logger": "none",
}


def known_frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Daily ``y`` (the target) and ``x`` (its input known ahead), ``n`` rows from 2015-01-01."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 10.0 + 3.0 * np.sin(2 * np.pi * np.arange(n) / 7) + 2.0 * x + 0.3 * rng.normal(size=n)
    index = pd.date_range("2015-01-01", periods=n, freq="D", tz="UTC", name="time")
    return pd.DataFrame({"y": y, "x": x}, index=index)


def known_series(n: int = 1000, seed: int = 0) -> Series:
    return validate(known_frame(n, seed), "y", freq="D", source="csv", symbol="known")


def known_config(**over) -> Config:
    return override(Config(), KNOWN | over)


@functools.lru_cache(maxsize=2)
def known_model(declared: bool = True):
    """(the fitted model, its series), trained once per session; ``declared=False``: the same
    series without ``x`` known ahead (a history-only model)."""
    from forecaster.training import fit_model

    series = known_series()
    cfg = known_config() if declared else known_config(**{"data.future_covariates": []})
    return fit_model(series, cfg), series
