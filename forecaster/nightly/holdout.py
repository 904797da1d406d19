"""Scoring challenger, champion and the baselines on the same newest origins of a series or group.

The holdout is a walk-forward backtest (:func:`~forecaster.backtest.engine.run_backtest`) over
the newest ``holdout_fraction`` of each series (at most ``max_holdout_origins`` origins) with the
job's own backtest settings: its season, moving-average window, Ridge lags and penalty, stride,
interval levels and interval window. Only the span and the refit setting are the holdout's own:
the models are scored as trained.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecaster.backtest.baselines import BASELINES
from forecaster.backtest.engine import BacktestResult, run_backtest
from forecaster.backtest.pooling import Scores, pool_members
from forecaster.config import BacktestConfig
from forecaster.data.group import SeriesGroup
from forecaster.data.series import Series
from forecaster.data.splits import first_test_row
from forecaster.errors import ConfigError, DataError
from forecaster.fitted import FittedModel
from forecaster.nightly.decide import MemberScores

log = logging.getLogger(__name__)
CHALLENGER, CHAMPION = "challenger", "champion"
"""The names the two models are scored under (next to the baselines' names)."""


@dataclass(frozen=True)
class Holdout:
    """The scores of every method on one job's holdout."""

    scores: dict[str, Scores]
    """Method -> scores: the challenger, the baselines in report order, then the champion (when
    there is one). A group's are pooled over its members (each relative to its naive:
    :func:`~forecaster.backtest.pooling.pool_members`)."""
    origins: int
    """Forecast origins scored, over all members."""
    members: dict[str, dict[str, Scores]] = field(default_factory=dict)
    """A group's members' own scores (target units) by symbol; empty for a single series."""

    @property
    def challenger(self) -> Scores:
        return self.scores[CHALLENGER]

    @property
    def champion(self) -> Scores | None:
        return self.scores.get(CHAMPION)

    @property
    def baselines(self) -> dict[str, Scores]:
        return _baselines(self.scores)

    def member_scores(self) -> dict[str, MemberScores]:
        """Each member's challenger and baselines, for the per-member check of the decision."""
        return {
            symbol: MemberScores(scores[CHALLENGER], _baselines(scores))
            for symbol, scores in self.members.items()
        }


def _baselines(scores: Mapping[str, Scores]) -> dict[str, Scores]:
    return {name: s for name, s in scores.items() if name not in (CHALLENGER, CHAMPION)}


def holdout_backtest(own: BacktestConfig, max_origins: int) -> BacktestConfig:
    """The job's own backtest settings for the holdout: the newest origins (at most
    ``max_origins``; no start/end dates) and the models as trained (``refit_every`` 0)."""
    return own.model_copy(
        update={"max_origins": max_origins, "start": None, "end": None, "refit_every": 0}
    )


def score(
    models: Mapping[str, FittedModel],
    series: Series | SeriesGroup,
    own: BacktestConfig,
    fraction: float,
    max_origins: int,
) -> Holdout:
    """Score ``models`` (name -> model: :data:`CHALLENGER`, :data:`CHAMPION`) and every baseline on
    the newest ``fraction`` of ``series`` (each member of a group) with the job's backtest settings
    ``own``. Raises DataError when the series (every member) is too short for the holdout."""
    if isinstance(series, SeriesGroup):
        return score_group(models, series, own, fraction, max_origins)
    return score_series(models, series, own, fraction, max_origins)


def score_series(
    models: Mapping[str, FittedModel],
    series: Series,
    own: BacktestConfig,
    fraction: float,
    max_origins: int,
) -> Holdout:
    """Each model and every baseline on identical recent origins of one series.

    A method whose forecasts are not finite scores ``inf`` (never promoted, never the best
    baseline). With ``own.levels`` each also gets the holdout coverage (%) of its conformal
    intervals (calibrated by the engine on the rows before the holdout).
    """
    cfg = holdout_backtest(own, max_origins)
    scores: dict[str, Scores] = {}
    n_origins = 0
    for name, model in models.items():
        baselines = () if scores else BASELINES  # the same origins for every model
        result = run_backtest(
            series,
            model,
            cfg=cfg,
            test_fraction=fraction,
            model_name=name,
            baselines=baselines,
            levels=own.levels,
        )
        n_origins = result.n_origins
        scores |= {method: method_scores(result, method) for method in (name, *baselines)}
    return Holdout(scores, n_origins)


def score_group(
    models: Mapping[str, FittedModel],
    group: SeriesGroup,
    own: BacktestConfig,
    fraction: float,
    max_origins: int,
) -> Holdout:
    """A group model's holdout: every member scored on its own newest rows
    (:func:`score_series`), then pooled (:func:`~forecaster.backtest.pooling.pool_members`). A
    member too short for the holdout is left out; DataError when every member is."""
    per_member: dict[str, dict[str, Scores]] = {}
    total = 0
    for member in group:
        try:
            holdout = score_series(models, member, own, fraction, max_origins)
        except DataError as exc:
            log.info("%s: left out of the holdout (%s)", member.symbol, exc)
            continue
        per_member[member.symbol] = holdout.scores
        total += holdout.origins
    if not per_member:
        raise DataError(f"group {group.name}: no member has enough rows for the holdout")
    return Holdout(pool_members(per_member), total, per_member)


def method_scores(result: BacktestResult, method: str) -> Scores:
    """One method's :class:`Scores` from a backtest (``inf`` errors if its forecasts are not all
    finite; coverage per level when the backtest made intervals)."""
    coverage = {}
    if result.interval_metrics is not None:
        coverage = {
            float(lv): float(result.interval_metrics.loc[(method, lv)].coverage)
            for lv in result.levels
        }
    if not np.isfinite(result.forecasts[method]).all():
        return Scores.infinite(coverage)
    row = result.metrics.loc[method]
    return Scores(float(row["mae"]), float(row["rmse"]), float(row["smape"]), coverage)


def check_unseen(series: Series | SeriesGroup, fraction: float, selected_end: str | None) -> None:
    """Raise a one-line ConfigError when the holdout (the newest ``fraction`` of each member)
    starts at or before ``selected_end``, the last stamp of the challenger's validation split: the
    rows that chose its epoch and blend must never score it. (Fraction splits are checked when
    the config is read; this catches dated splits, ``train.train_end``/``val_end``.)"""
    if selected_end is None:
        return
    end = pd.Timestamp(selected_end)
    for member in series if isinstance(series, SeriesGroup) else [series]:
        first = member.index[first_test_row(member.index, fraction)]
        if first <= end:  # both from the member's own index: aware or naive alike
            raise ConfigError(
                f"{member.symbol}: the nightly holdout starts at {first}, inside the rows the "
                f"challenger was selected on (validation up to {end}) — lower holdout_fraction "
                "or move train.val_end earlier"
            )
