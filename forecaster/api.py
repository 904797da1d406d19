"""The Python API: what the ``forecast`` CLI, the nightly job and notebooks all call.

Typical use in a notebook::

    from forecaster import api
    cfg = api.make_config(ticker="AAPL", overrides={"model.lookback": 30, "train.max_epochs": 5})
    series = api.load_data(cfg)
    result = api.fit(cfg, series=series)        # trains, evaluates, saves a model version
    result.model.predict(series)                 # next `horizon` steps, in the target's units
    bt = api.backtest(cfg, model="latest")       # walk-forward against baselines + HTML report

Imports run one way: ``api`` -> ``data``, ``models``, ``training``, ``backtest``, ``registry``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from forecaster import config as cfgmod
from forecaster import faults
from forecaster.backtest import baselines as bl
from forecaster.backtest import metrics as mt
from forecaster.backtest.engine import (
    BacktestResult,
    backtest_span,
    baseline_forecasts,
    run_backtest,
    usable_baselines,
)
from forecaster.backtest.report import write_report
from forecaster.config import BacktestConfig, Config, make_config
from forecaster.data.loader import load_series, series_key
from forecaster.data.series import Series
from forecaster.errors import ModelError
from forecaster.fitted import FittedModel
from forecaster.registry import ChampionChanged, ModelStore, VersionInfo
from forecaster.settings import paths
from forecaster.training import fit_model, global_rank

log = logging.getLogger(__name__)
__all__ = [
    "make_config",
    "load_data",
    "store",
    "fit",
    "FitResult",
    "load_model",
    "predict",
    "PredictResult",
    "backtest",
    "BacktestReport",
    "describe_fit",
]


def load_data(cfg: Config, *, refresh: bool = True) -> Series:
    """The series a config describes (live source, cache or bundled snapshot; see the loader)."""
    return load_series(cfg.data, refresh=refresh)


def store() -> ModelStore:
    """The model store under the current data root."""
    return ModelStore(paths().models)


# -- fit --------------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """A trained model, where it was saved, and how it did on the validation windows."""

    model: FittedModel
    series: Series
    key: str
    version: VersionInfo | None
    table: pd.DataFrame
    """Rows: gru and every baseline; columns: mae, rmse (target units), windows; attrs["season"]."""
    seconds: float
    promoted: bool = False
    rank: int = 0
    """This process's rank in a multi-device fit; only rank 0 saves (``version`` is None elsewhere)."""


def validation_table(model: FittedModel, bcfg: BacktestConfig) -> pd.DataFrame:
    """MAE and RMSE (target units) of the model and every baseline on the model's validation windows.

    The model's own errors were measured on these windows during the fit (``model.metrics``). The
    baselines read only rows before each origin; Ridge is fitted on the training split, like the
    model. Rows: gru, then :data:`~forecaster.backtest.baselines.BASELINES`; ``attrs["season"]``.
    """
    origins = model.split_origins("val")
    y, horizon = model.series.values, model.horizon
    season = bcfg.season or bl.season_for(model.freq)
    actual = bl.future_windows(y, origins, horizon)
    train_end = int(origins[0]) - model.lookback  # the validation split's first row
    methods = usable_baselines(bcfg, season, horizon, train_end)
    forecasts = baseline_forecasts(y, origins, horizon, bcfg, season, methods, (0, train_end), None)
    rows = {
        "gru": {
            "mae": model.metrics["val_mae"],
            "rmse": model.metrics["val_rmse"],
            "windows": len(origins),
        }
    }
    rows |= {
        name: {"mae": mt.mae(actual, f), "rmse": mt.rmse(actual, f), "windows": len(origins)}
        for name, f in forecasts.items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs["season"] = season
    return table


def fit(
    cfg: Config,
    *,
    series: Series | None = None,
    save: bool = True,
    promote: str = "if-none",
    init_from: FittedModel | None = None,
) -> FitResult:
    """Train a GRU on the config's series, compare it with baselines, and save a model version.

    ``promote``: ``"if-none"`` makes the new model champion only when the series has none yet,
    ``"always"`` always, ``"never"`` never (nightly retraining decides for itself).
    """
    series = series if series is not None else load_data(cfg)
    key = series_key(cfg.data)
    t0 = time.perf_counter()
    model = fit_model(series, cfg, init_from=init_from, callbacks=faults.training_callbacks())
    seconds = time.perf_counter() - t0
    table = validation_table(model, cfg.backtest)
    model.meta.setdefault("metrics", {}).update(
        {
            f"val_{name}_{m}": float(v)
            for name, row in table.iterrows()
            for m, v in row.items()
            if m != "windows"
        }
    )
    model.meta["fit_seconds"] = round(seconds, 1)
    version, promoted = None, False
    rank = global_rank()
    if save and rank == 0:  # the other processes of a multi-device fit trained the same weights
        st = store()
        st.recover(key)  # only what dead runs left: a version another run is writing stays
        version = st.save(key, model.save)
        if promote == "always":
            st.promote(key, version.version, reason="fit")
            promoted = True
        elif promote == "if-none":
            try:  # atomic "if none": a champion chosen meanwhile by another run is kept
                st.promote(key, version.version, reason="first model", expected=None)
                promoted = True
            except ChampionChanged:
                pass
    return FitResult(model, series, key, version, table, seconds, promoted, rank)


# -- load / predict ---------------------------------------------------------------------------------
def load_model(cfg: Config, ref: str = "champion") -> tuple[FittedModel, VersionInfo]:
    """A saved model for the config's series: ``champion``, ``latest``, a version id, or a folder."""
    info = store().resolve(series_key(cfg.data), ref)
    return FittedModel.load(info.path), info


def model_data_config(model: FittedModel, cfg: Config) -> Config:
    """The user's data request, with the columns the model was trained on (target, covariates)."""
    trained = model.config.data
    return cfgmod.override(
        cfg,
        {
            "data.target": trained.target,
            "data.covariates": trained.covariates,
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
) -> PredictResult:
    """Forecast the next ``horizon`` steps after the newest data, and write CSV/JSON (and HTML).

    ``target``: the column the caller asks for (``None``: whatever the model forecasts); a model
    trained on another column is an error, never a silent forecast of its own target.
    """
    fitted, info = load_model(cfg, model)
    if target is not None and target != fitted.target:
        raise ModelError(
            f"model {info.version} of {info.key} forecasts '{fitted.target}', not '{target}' — "
            f"drop --target to forecast '{fitted.target}', or train a model for '{target}' "
            f"(`forecast fit ... --target {target}`)"
        )
    series = load_data(model_data_config(fitted, cfg))
    if series.target != fitted.target:
        raise ModelError(
            f"model {info.version} forecasts '{fitted.target}' but the data's target is '{series.target}'"
        )
    frame = fitted.predict(series)
    files: dict[str, Path] = {}
    if out_dir is not None:
        from forecaster.backtest.report import forecast_chart
        from forecaster.io import write_json, write_text

        stem = f"forecast-{info.key}-{series.end.strftime('%Y%m%dT%H%M')}"
        out = frame.reset_index().rename(columns={"index": "time"})
        files["csv"] = write_text(Path(out_dir) / f"{stem}.csv", out.to_csv(index=False))
        files["json"] = write_json(
            Path(out_dir) / f"{stem}.json",
            {
                "series": info.key,
                "model_version": info.version,
                "target": fitted.target,
                "unit": series.units.get(series.target, ""),
                "last_observation": {"time": str(series.end), "value": float(series.values[-1])},
                "forecast": [
                    {"time": str(t), "value": float(v)} for t, v in frame["forecast"].items()
                ],
            },
        )
        if plot:
            files["html"] = forecast_chart(series, frame, Path(out_dir) / f"{stem}.html")
    return PredictResult(frame, series, info, files)


# -- backtest -----------------------------------------------------------------------------------------
@dataclass
class BacktestReport:
    """A walk-forward backtest, the model it evaluated, and the report files written."""

    result: BacktestResult
    series: Series
    key: str
    version: VersionInfo | None
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _check_no_overlap(
    fitted: FittedModel, series: Series, test_start: pd.Timestamp, version: str
) -> None:
    """A fixed model must not have trained (or early-stopped) on the span it is evaluated on."""
    seen_until = fitted.meta.get("splits", {}).get("val", {}).get("end") or fitted.meta.get(
        "data", {}
    ).get("end")
    if seen_until is not None and pd.Timestamp(seen_until) >= test_start:
        raise ModelError(
            f"model {version} was trained on data up to {seen_until}, inside the backtest span starting "
            f"{test_start} — evaluating it there would leak the future; use --start after {seen_until}, "
            "or --refit-every K to retrain inside the span"
        )


def backtest(
    cfg: Config,
    *,
    model: str | None = "champion",
    out_dir: Path | None = None,
    series: Series | None = None,
    write: bool = True,
) -> BacktestReport:
    """Walk-forward backtest of the GRU and every baseline on identical origins, plus a report.

    ``model``: a saved model (``champion``, ``latest``, a version id or a folder); when the series
    has no saved model and ``model`` is ``champion`` or ``latest``, one is trained on the data
    before the test span and saved. With
    ``cfg.backtest.refit_every = k > 0`` the GRU is instead retrained every k origins on the data
    before each origin (expanding or sliding window). ``model=None`` evaluates the baselines only.
    """
    key = series_key(cfg.data)
    bcfg = cfg.backtest
    notes: list[str] = []
    fitted, info, refit = None, None, None
    if bcfg.refit_every > 0:

        def refit(train: Series) -> FittedModel:
            return fit_model(train, cfg, progress_bar=False)

        notes.append(f"GRU retrained every {bcfg.refit_every} origins ({bcfg.window} window)")
    elif model is not None and (store().versions(key) or model not in ("champion", "latest")):
        fitted, info = load_model(cfg, model)
        cfg = model_data_config(fitted, cfg)
    series = series if series is not None else load_data(cfg)
    start, _ = backtest_span(series, bcfg, cfg.train.test_fraction)
    test_start = series.index[start]
    if fitted is not None:
        _check_no_overlap(fitted, series, test_start, info.version)
    elif model is not None and refit is None:
        train = series.until(test_start)
        log.warning(
            "no saved model for %s; training one on the data before the backtest span (%s .. %s)",
            key,
            train.start,
            train.end,
        )
        trained = fit(cfg, series=train)
        fitted, info = trained.model, trained.version
        notes.append(f"trained model {info.version} on data before {test_start}")
    result = run_backtest(
        series,
        fitted,
        cfg=bcfg,
        horizon=cfg.model.horizon if fitted is None else None,
        test_fraction=cfg.train.test_fraction,
        refit=refit,
        model_name="gru",
    )
    report = BacktestReport(result, series, key, info, notes=notes)
    if write:
        stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S")
        folder = (
            Path(out_dir) if out_dir is not None else paths().reports / f"backtest-{key}-{stamp}"
        )
        title = f"Backtest {key}: {series.target}" + (f" (model {info.version})" if info else "")
        report.files = write_report(result, series, folder, title)
    return report


# -- helpers for callers ------------------------------------------------------------------------------
def anchor_summary(model: FittedModel) -> str:
    """One line: what the model started from and whether training beat it on validation."""
    anchor = model.meta.get("anchor") or {}
    name = str(anchor.get("name", "naive")).replace("_", " ")
    if anchor.get("is_anchor"):
        return f"The GRU did not beat {name} on validation; the saved model forecasts as {name}."
    selection = anchor.get("selection") or {}
    if "p_value" not in selection:
        return f"The GRU started from {name}; no validation decided between them."
    share = float(anchor.get("blend", 1.0))
    kept = "" if share >= 1 else f"; {share:.0%} of the learned correction kept"
    return (
        f"The GRU beat {name} on validation (MAE {selection['trained_mae']:.4g} vs "
        f"{selection['anchor_mae']:.4g}, p={selection['p_value']:.2g}){kept}."
    )


def describe_fit(result: FitResult) -> str:
    """A short human-readable summary of a fit (what the CLI prints)."""
    s, m, c = result.series, result.model, result.model.config
    unit = s.units.get(s.target, "")
    arch = f"{c.model.num_layers}x{c.model.hidden_size} {'bidirectional ' if c.model.bidirectional else ''}GRU"
    lines = [
        f"Trained {arch} on {s.source}:{s.symbol} '{s.target}'"
        f"{f' ({unit})' if unit else ''}, {s.start:%Y-%m-%d %H:%M} .. {s.end:%Y-%m-%d %H:%M}, {len(s):,} rows",
        f"  lookback {c.model.lookback} -> horizon {c.model.horizon} steps ({s.freq}), "
        f"{m.meta.get('epochs_trained', '?')} epochs (best {m.meta.get('best_epoch', '?')}), {result.seconds:.0f} s",
    ]
    table = result.table
    best = {col: table[col].idxmin() for col in ("mae", "rmse")}
    lines.append(
        f"Validation on {int(table['windows'].iloc[0]):,} windows (errors in {unit or 'target units'}):"
    )
    lines.append(
        f"  {'method':<20}{'MAE':>10}{'RMSE':>10}   (seasonal naive: season {table.attrs.get('season', '?')})"
    )
    for name, row in table.iterrows():
        marks = "".join("*" if best[c] == name else " " for c in ("mae", "rmse"))
        lines.append(
            f"  {name:<20}{row['mae']:>10.4g}{row['rmse']:>10.4g}  {marks.strip() and '* best'}"
        )
    lines.append(anchor_summary(m))
    if result.version is not None:
        lines.append(f"Saved {result.key} version {result.version.version}")
        lines.append(f"  {result.version.path}")
        if result.promoted:
            lines.append("  (now the champion for this series)")
    return "\n".join(lines)
