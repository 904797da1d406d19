"""Which saved model serves a series, and its forecast of the next steps with intervals."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from forecaster import config as cfgmod
from forecaster.config import Config
from forecaster.data.group import named_group_key, store_key
from forecaster.data.loader import load_series
from forecaster.data.series import Series
from forecaster.errors import ConfigError, ForecasterError, ModelError
from forecaster.fitted import FittedModel
from forecaster.fitting import store
from forecaster.forecast_inputs import for_model
from forecaster.intervals import level_name, needed, parse_levels
from forecaster.registry import ModelStore, VersionInfo
from forecaster.store_resolve import resolve_for

log = logging.getLogger(__name__)


def load_model(cfg: Config, ref: str = "champion") -> tuple[FittedModel, VersionInfo]:
    """A saved model for the config's series: ``champion``, ``latest``, a version id, a folder,
    or ``group:NAME`` (the champion of that group's global model).

    A series with no model of its own is served by the champion of a group it is a member of
    (the newest such, with a notice saying which).
    """
    st = store()
    if ref.startswith("group:"):
        name = ref.split(":", 1)[1].strip()
        if not name:
            raise ConfigError("--model group: needs a group name — e.g. --model group:big_tech")
        info = st.resolve(named_group_key(name, cfg.data), "champion")
        return FittedModel.load(info.path), info
    key = store_key(cfg.data)
    if ref in ("champion", "latest") and cfg.data.group is None and not st.version_ids(key):
        info = _group_serving(st, cfg)
        if info is not None:
            log.info("%s has no model of its own; using group model %s", key, info.key)
            return FittedModel.load(info.path), info
    info = resolve_for(st, cfg.data, key, ref)  # a file's own model, never a namesake's
    return FittedModel.load(info.path), info


def has_saved(key: str, model: str) -> bool:
    """Whether ``model`` names a saved model (else one is trained first): any ref but
    ``champion``/``latest``, or those when the series has versions."""
    return model not in ("champion", "latest") or bool(store().version_ids(key))


def _group_serving(st: ModelStore, cfg: Config) -> VersionInfo | None:
    """The newest group champion that lists the config's series as a member, if any."""
    symbol = (cfg.data.symbol or "").upper()
    found = []
    stored = st.keys()  # a ModelStore is not a mapping
    for key in stored:
        if not key.startswith("group-") or not symbol:
            continue
        try:
            info = st.resolve(key, "champion")
        except ForecasterError:
            continue  # a group without a usable champion serves nobody
        members = info.meta.get("group", {}).get("members", [])
        if any(str(m.get("symbol", "")).upper() == symbol for m in members):
            found.append(info)
    return max(found, key=lambda i: i.created_at) if found else None


def model_data_config(model: FittedModel, cfg: Config) -> Config:
    """The user's data request, with the columns the model was trained on (target, covariates,
    columns and weather forecasts known ahead) and its horizon (the lead of issued forecasts)."""
    trained = model.config.data
    return cfgmod.override(
        cfg,
        {
            "data.target": trained.target,
            "data.covariates": trained.covariates,
            "data.future_covariates": trained.future_covariates,
            "data.weather_forecasts": trained.weather_forecasts,
            "model.horizon": model.horizon,
            "data.variables": trained.variables or None,
        },
    )


@dataclass
class PredictResult:
    forecast: pd.DataFrame
    """Index: the next ``horizon`` timestamps; column ``forecast`` in the target's units."""
    series: Series
    version: VersionInfo
    files: dict[str, Path] = field(default_factory=dict)


def predict(
    cfg: Config,
    *,
    model: str = "champion",
    out_dir: Path | None = None,
    plot: bool = False,
    target: str | None = None,
    levels: Sequence[float] | None = None,
    loaded: tuple[FittedModel, VersionInfo] | None = None,
) -> PredictResult:
    """Forecast the next ``horizon`` steps after the newest data, and write CSV/JSON (and HTML).

    ``target``: the column the caller asks for (``None``: whatever the model forecasts); a model
    trained on another column is an error, never a silent forecast of its own target.
    ``levels``: prediction-interval levels in percent (default ``cfg.backtest.levels``; ``[]``
    none): the frame gains ``median`` and ``lo_<level>``/``hi_<level>`` columns (see
    :mod:`forecaster.intervals`), and the plot becomes a fan chart. ``loaded``: a model already
    loaded with :func:`load_model` (e.g. a group's, for each member in turn); ``model`` is then unused.
    """
    from forecaster.outputs import write_forecast

    levels = cfg.backtest.levels if levels is None else list(parse_levels(levels) if levels else [])
    fitted, info = loaded if loaded is not None else load_model(cfg, model)
    if target is not None and target != fitted.target:
        raise ModelError(
            f"model {info.version} of {info.key} forecasts '{fitted.target}', not '{target}' — "
            f"drop --target to forecast '{fitted.target}', or train a model for '{target}' "
            f"(`forecast fit ... --target {target}`)"
        )
    data_cfg = model_data_config(fitted, cfg)
    series = for_model(load_series(data_cfg.data), fitted.spec, data_cfg)
    if series.target != fitted.target:
        raise ModelError(
            f"model {info.version} forecasts '{fitted.target}' but the data's target is '{series.target}'"
        )
    frame = fitted.predict(series, levels)
    _warn_about_intervals(fitted, info, levels, frame.attrs.get("short_levels", []))
    files: dict[str, Path] = {}
    if out_dir is not None:
        key = store_key(cfg.data)  # the series' own key, also when a group's model serves it
        files = write_forecast(key, frame, series, fitted, info, Path(out_dir), plot)
    return PredictResult(frame, series, info, files)


def _warn_about_intervals(
    fitted: FittedModel, info: VersionInfo, levels: Sequence[float], short: Sequence[float]
) -> None:
    if levels and fitted.calibration is None:
        log.warning(
            "model %s was saved before prediction intervals existed: no intervals — retrain it "
            "(`forecast fit`) to get them",
            info.version,
        )
    for level in short:
        log.warning(
            "the %s%% interval rests on %d calibration residuals per step, fewer than the %d an "
            "exact one needs: it is as wide as they go and marked short_%s — use a lower level "
            "or a longer validation span",
            level_name(level),
            fitted.calibration.n,
            needed(level),
            level_name(level),
        )
