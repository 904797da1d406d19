"""The walk forward over a backtest's origins: the model contract, its batched forecasts, and refits.

Positions, not dates: origin ``o`` forecasts rows ``[o, o + H)`` from rows ``< o``. In fixed mode
(``refit_every`` 0) the one model and the fitted baselines (Ridge) are trained before the test span
and forecast every origin; in refit mode the origins go in groups of ``refit_every`` and both are
retrained before each group on the rows before its first origin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from forecaster.backtest import baselines as bl
from forecaster.config import BacktestConfig
from forecaster.data.series import Series
from forecaster.errors import DataError


@runtime_checkable
class WindowForecaster(Protocol):
    """What the engine needs of a model: window shape and batched forecasts from given origins."""

    lookback: int
    """Input window length L, in steps."""
    horizon: int
    """Forecast length H, in steps."""

    def predict_origins(self, series: Series, origins: np.ndarray) -> np.ndarray:
        """``(n_origins, H)`` forecasts in target units; origin o forecasts rows [o, o+H) from rows < o."""
        ...


Refit = Callable[[Series], WindowForecaster]


@dataclass(frozen=True)
class Plan:
    """What a backtest runs and where: the test span ``[start, end)`` (rows), its origins (n,),
    the horizon and season (steps), the rows of history needed before the span, the baselines (in
    report order) and the model's name."""

    start: int
    end: int
    origins: np.ndarray
    horizon: int
    season: int
    need: int
    baselines: tuple[str, ...]
    model_name: str


def predict(
    model: WindowForecaster, series: Series, origins: np.ndarray, batch_size: int | None
) -> np.ndarray:
    """Model forecasts for ``origins`` in batched calls of at most ``batch_size`` origins (None: one call)."""
    step = batch_size or max(len(origins), 1)
    parts = []
    for i in range(0, len(origins), step):
        batch = origins[i : i + step]
        out = np.asarray(model.predict_origins(series, batch), dtype=np.float64)
        if out.shape != (len(batch), model.horizon):
            raise ValueError(
                f"predict_origins returned shape {out.shape}, expected {(len(batch), model.horizon)}"
            )
        parts.append(out)
    return np.concatenate(parts) if parts else np.empty((0, model.horizon))


def check_model(model: WindowForecaster, horizon: int, first_origin: int) -> None:
    """The model forecasts ``horizon`` steps and has its lookback of rows before ``first_origin``."""
    if model.horizon != horizon:
        raise ValueError(
            f"model horizon {model.horizon} differs from the backtest horizon {horizon}"
        )
    if first_origin < model.lookback:
        raise DataError(
            f"the first backtest origin has {first_origin} rows of history, fewer than the model's lookback "
            f"{model.lookback} — start the backtest later or use a shorter --lookback"
        )


def refit_groups(
    cfg: BacktestConfig, origins: np.ndarray, start: int
) -> list[tuple[np.ndarray, int]]:
    """``(origins of the group, first row after its training rows)`` per group: one group ending
    its training at ``start`` in fixed mode, groups of ``refit_every`` origins in refit mode."""
    if cfg.refit_every <= 0:
        return [(origins, start)]
    step = cfg.refit_every
    return [(origins[i : i + step], int(origins[i])) for i in range(0, len(origins), step)]


def sliding_window(cfg: BacktestConfig, start: int) -> int | None:
    """Training rows of a sliding refit (the initial training length ``start``); None: expanding."""
    return start if cfg.refit_every > 0 and cfg.window == "sliding" else None


def walk_forward(
    series: Series,
    model: WindowForecaster | None,
    refit: Refit | None,
    cfg: BacktestConfig,
    plan: Plan,
    batch_size: int | None,
) -> tuple[dict[str, np.ndarray], int]:
    """Forecasts ``{method: (n, H)}`` over all origins (the model first, then the baselines in
    report order) and the number of refits (0 in fixed mode).

    Before each group of :func:`refit_groups` the model (via ``refit`` when refitting, or once when
    no model is given) and the baselines fitted on training rows are (re)trained on the rows
    ``[train_from, first)``; the other baselines read only the rows before each origin, so they
    forecast all origins at once.
    """
    y, horizon, season, model_name = series.values, plan.horizon, plan.season, plan.model_name
    fit_model = refit is not None and (cfg.refit_every > 0 or model is None)
    window = sliding_window(cfg, plan.start)
    records = bl.lookup(plan.baselines)
    fitted = [b.name for b in records if b.fitted_on_train]
    parts: dict[str, list[np.ndarray]] = {model_name: []} if model is not None or fit_model else {}
    parts.update({name: [] for name in fitted})
    groups = refit_groups(cfg, plan.origins, plan.start)
    for group, first in groups:
        train_from = max(0, first - window) if window else 0
        if fit_model:
            model = refit(series.with_frame(series.frame.iloc[train_from:first]))
        if model is not None:
            check_model(model, horizon, int(group[0]))
            parts[model_name].append(predict(model, series, group, batch_size))
        base = bl.baseline_forecasts(
            y, group, horizon, cfg, season, fitted, (train_from, first), window
        )
        for name, values in base.items():
            parts[name].append(values)
    stacked = {name: np.concatenate(values) for name, values in parts.items()}
    unfitted = [b.name for b in records if not b.fitted_on_train]
    once = bl.baseline_forecasts(
        y, plan.origins, horizon, cfg, season, unfitted, (0, plan.start), window
    )
    forecasts = {model_name: stacked[model_name]} if model_name in stacked else {}
    forecasts |= {name: stacked[name] if name in stacked else once[name] for name in plan.baselines}
    return forecasts, (len(groups) if cfg.refit_every > 0 else 0)
