"""Weather forecasts as inputs known ahead, attached to a loaded series as a config or a model asks.

``data.weather_forecasts`` names weather variables whose *forecast* the model reads at each step.
For a fit or a backtest, :func:`with_forecasts` adds their values as issued before each origin
(:func:`forecaster.data.sources.weather_forecasts.attach`, lead from the horizon plus
:data:`PUBLISH_MARGIN_HOURS`); without network and cache the fit goes on without them, with a
warning, and the saved config says so (its ``data.weather_forecasts`` lists what the model reads).
For ``predict``, :func:`for_model` attaches what the saved model reads, and the live forecast of
the steps ahead; a model that reads forecasts cannot predict without them (a one-line error).
"""

from __future__ import annotations

from forecaster.config import Config, DataConfig
from forecaster.data.features import FORECAST_PREFIX, FeatureSpec
from forecaster.data.group import SeriesGroup
from forecaster.data.series import Series
from forecaster.errors import ConfigError, DataError, SourceUnavailable

PUBLISH_MARGIN_HOURS = 6
"""A weather model's run is published hours after the time it starts from (ECMWF about 7 h after,
GFS about 4-5 h): the ``previous_dayN`` value of a step must come from a run that started at
least this long before the origin, so that it was published by then. Counted into the lead."""


def _place(data: DataConfig):
    from forecaster.data.sources import SOURCES

    place_of = getattr(SOURCES.get(data.source), "place_of", None)
    if place_of is None or data.group is not None:
        raise ConfigError(
            "--weather-forecasts needs one weather place (--city or --lat/--lon) — for a file, "
            "name its forecast columns with --future-covariates"
        )
    return place_of(data)


def with_forecasts(data: Series | SeriesGroup, cfg: Config) -> Series | SeriesGroup:
    """``data`` with the issued forecasts of ``cfg.data.weather_forecasts`` as columns (none
    asked: ``data`` itself; unavailable: ``data`` itself, with the loader's warning)."""
    variables = list(cfg.data.weather_forecasts)
    if not variables:
        return data
    place = _place(cfg.data)  # a group config is refused here: its members have many places
    return _attach(data, cfg, place, variables, predict=False)[0]


def forecast_variables(spec: FeatureSpec) -> list[str]:
    """The weather variables whose forecast a saved model reads (its ``forecast_*`` columns)."""
    return [c[len(FORECAST_PREFIX) :] for c in spec.future if c.startswith(FORECAST_PREFIX)]


def for_model(series: Series, spec: FeatureSpec, cfg: Config) -> Series:
    """``series`` with what a model of ``spec`` reads to predict: the issued forecasts over its
    rows and the live forecast of the steps after them. A model without forecast inputs: as is."""
    variables = forecast_variables(spec)
    if not variables:
        return series
    fix = (
        "predict with network, or refit without it (an offline fit falls back to a model "
        "without forecast inputs)"
    )
    try:
        attached, added = _attach(series, cfg, _place(cfg.data), variables, predict=True)
    except SourceUnavailable as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SourceUnavailable(
            f"this model reads weather forecasts of {', '.join(variables)} and the live forecast "
            f"is unavailable ({first}) — {fix}"
        ) from None
    if len(added) < len(variables):
        raise DataError(
            f"this model reads weather forecasts of {', '.join(variables)}, and their issued "
            f"values are neither reachable nor cached — {fix}"
        )
    return attached


def _attach(series: Series, cfg: Config, place, variables: list[str], *, predict: bool):
    from forecaster.data.sources import weather_forecasts

    return weather_forecasts.attach(
        series,
        place,
        variables,
        cfg.model.horizon,
        predict=predict,
        offline=cfg.data.offline,
        max_gap=cfg.data.max_gap,
        fill=cfg.data.fill,
        margin_hours=PUBLISH_MARGIN_HOURS,
    )
