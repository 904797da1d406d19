"""A model and every baseline forecast once on a split's windows, and scored: the typed
:class:`Evaluation` that a fit's validation table, its meta, the kept share of the learned
correction and the interval calibration all read.

One series is a group of one. Per member the windows are the split's (stride 1; origin ``o``
forecasts rows ``[o, o + H)`` from ``[o - L, o)``), the baselines read only rows before each origin
(Ridge is fitted on the member's rows before the split, as the model trained there). A group's
score pools its members with one rule (:func:`pooled`): each member's score divided by its naive
score, averaged, so members on different scales (prices of 25 and 600 USD) weigh alike.

Only observed actuals are scored: a value the NaN policy filled in (a line drawn by interpolation,
a repeated value) is NaN in ``actuals`` (:func:`~forecaster.data.series.mask_filled`) and every
metric leaves it out; a member whose split holds no observed actual is left out, and none at all
is a one-line DataError naming ``data.max_gap``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd

from forecaster.backtest import baselines as bl
from forecaster.backtest import metrics as mt
from forecaster.backtest.engine import baseline_forecasts, usable_baselines
from forecaster.backtest.pooling import REFERENCE, relative_mean
from forecaster.config import BacktestConfig
from forecaster.data.series import Series, mask_filled
from forecaster.errors import DataError


class SplitForecaster(Protocol):
    """What is evaluated: a fitted model (see :class:`~forecaster.fitted.FittedModel`)."""

    name: str
    lookback: int
    horizon: int

    def split_origins(self, split: str, series: Series) -> np.ndarray: ...

    def forecast_with_anchor(
        self, series: Series, origins: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class MemberEvaluation:
    """One member's windows of the split: ``origins`` (n,) rows of its series, ``actuals`` (n, H)
    (NaN where the value was filled in, not observed) and per method its ``forecasts`` (n, H),
    all in the target's units (the model first).
    ``anchor``: the model's anchor forecast (n, H), and ``full`` the model with its whole learned
    correction (n, H): the model's forecast is ``anchor + blend * (full - anchor)``."""

    symbol: str
    origins: np.ndarray
    actuals: np.ndarray
    forecasts: dict[str, np.ndarray]
    anchor: np.ndarray
    full: np.ndarray

    @property
    def scored(self) -> int:
        """How many actuals the scores count: the observed ones of the (n, H) windows."""
        return mt.scored(self.actuals)

    def errors(self, method: str) -> dict[str, float]:
        """MAE and RMSE of ``method`` over the observed actuals, in target units, and the window
        count."""
        f = self.forecasts[method]
        return {"mae": mt.mae(self.actuals, f), "rmse": mt.rmse(self.actuals, f)} | {
            "windows": len(self.actuals)
        }


@dataclass(frozen=True)
class Evaluation:
    """The model (``model``: its name) and the baselines on one split of every member."""

    model: str
    split: str
    season: int
    members: dict[str, MemberEvaluation]

    @property
    def methods(self) -> list[str]:
        """The model, then each baseline that every member had the history for (report order)."""
        return _in_every([m.forecasts for m in self.members.values()])

    def with_blend(self, share: float) -> Evaluation:
        """The same windows with the model's forecast at ``share`` of its learned correction."""
        members = {
            k: replace(
                m, forecasts=m.forecasts | {self.model: m.anchor + share * (m.full - m.anchor)}
            )
            for k, m in self.members.items()
        }
        return replace(self, members=members)

    @property
    def scored(self) -> int:
        """How many actuals the scores count, over every member (observed, not filled in)."""
        return sum(m.scored for m in self.members.values())

    def stacked(self, part: str) -> np.ndarray:
        """``actuals``, ``anchor`` or ``full`` of every member, one after another: (sum n, H)."""
        return np.concatenate([getattr(m, part) for m in self.members.values()])

    def member_errors(self) -> dict[str, dict[str, dict[str, float]]]:
        """Member -> method -> MAE, RMSE (target units) and windows."""
        return {k: {n: m.errors(n) for n in m.forecasts} for k, m in self.members.items()}

    def table(self) -> pd.DataFrame:
        """Rows: the model, then the baselines; columns ``mae``, ``rmse``, ``windows``. For one
        series in target units; for a group pooled by :func:`pooled` (relative to naive,
        ``attrs["relative"]``), with ``attrs["members"]``: per member the model's MAE and the best
        baseline's. ``attrs["season"]``: the seasonal-naive season."""
        errors = self.member_errors()
        grouped = len(errors) > 1
        if grouped:  # a member too short for the naive forecast cannot be scaled: left out
            errors = {k: e for k, e in errors.items() if REFERENCE in e} or errors
        methods = _in_every(list(errors.values()))
        if grouped:
            rows = pooled(errors, methods)
        else:
            (only,) = errors.values()
            rows = {name: only[name] for name in methods}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.attrs["season"] = self.season
        if grouped:
            table.attrs["relative"] = True
            table.attrs["members"] = {k: _member_line(e, self.model) for k, e in errors.items()}
        return table


def _in_every(maps: Sequence[Mapping[str, object]]) -> list[str]:
    """The keys every mapping of ``maps`` has, in the first one's order."""
    common = set.intersection(*(set(m) for m in maps))
    return [name for name in maps[0] if name in common]


def _member_line(errors: Mapping[str, Mapping[str, float]], model: str) -> dict[str, object]:
    best = bl.best_baseline({k: v["mae"] for k, v in errors.items()})
    return {"model": errors[model]["mae"], "best": best, "best_mae": errors[best]["mae"]}


def pooled(
    per_member: Mapping[str, Mapping[str, Mapping[str, float]]], methods: Sequence[str]
) -> dict[str, dict[str, float]]:
    """A group's score per method (:func:`~forecaster.backtest.pooling.relative_mean`, the one
    pooling rule): the mean over members of (the member's MAE or RMSE divided by its naive
    forecast's), so naive scores 1.0 and members on different scales weigh alike; for a
    group of one it ranks methods as the plain score does. ``windows``: the sum over members."""
    out: dict[str, dict[str, float]] = {}
    for name in methods:
        row: dict[str, float] = {}
        for metric in ("mae", "rmse"):
            pairs = [(s[name][metric], s[REFERENCE][metric]) for s in per_member.values()]
            row[metric] = relative_mean(pairs)
        row["windows"] = int(sum(s[name]["windows"] for s in per_member.values()))
        out[name] = row
    return out


def evaluate_split(
    model: SplitForecaster,
    members: Sequence[Series],
    split: str,
    bcfg: BacktestConfig,
    *,
    baselines: bool = True,
) -> Evaluation:
    """Forecast every window of ``split`` of every member once, with the model (its full
    correction and its anchor, in one pass) and, with ``baselines``, every baseline the history
    before the split allows. A member without a full window in the split is left out (a group
    member with a short history), as is one whose split holds no observed actual (every value
    filled in); none at all is a one-line DataError."""
    season = bcfg.season or bl.season_for(members[0].freq)
    out: dict[str, MemberEvaluation] = {}
    all_filled: list[Series] = []
    for member in members:
        try:
            origins = model.split_origins(split, member)
        except DataError:
            continue
        evaluated = _member(model, member, origins, bcfg, season, baselines)
        if evaluated.scored:
            out[member.symbol] = evaluated
        else:
            all_filled.append(member)
    if not out and all_filled:
        raise _all_filled(all_filled[0], split)
    if not out:
        raise DataError(f"no {split} window to evaluate the model on")
    return Evaluation(model.name, split, season, out)


def _all_filled(member: Series, split: str) -> DataError:
    """The one-line error of a split whose every actual the NaN policy filled in."""
    return DataError(
        f"{member.source}:{member.symbol}: every value of the {split} span was filled in by the "
        "NaN policy, none observed, so there is nothing to score the model against — use a span "
        "with observed values there (--start/--end) or a smaller --max-gap (data.max_gap)"
    )


def _member(model, member: Series, origins, bcfg, season: int, baselines: bool):
    y, H = member.values, model.horizon
    full, anchor = model.forecast_with_anchor(member, origins)
    forecasts = {model.name: full}
    if baselines:
        history = int(origins[0]) - model.lookback  # the split's first row: Ridge trains before it
        methods = usable_baselines(bcfg, season, H, history)
        forecasts |= baseline_forecasts(y, origins, H, bcfg, season, methods, (0, history), None)
    actuals = mask_filled(member, origins, H, bl.future_windows(y, origins, H))
    return MemberEvaluation(member.symbol, origins, actuals, forecasts, anchor, full)
