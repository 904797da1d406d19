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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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
from forecaster.data.group import (
    SeriesGroup,
    from_series,
    load_group,
    member_config,
    named_group_key,
    store_key,
)
from forecaster.data.loader import load_series
from forecaster.data.pooled import group_cuts
from forecaster.data.series import Series
from forecaster.errors import ConfigError, DataError, ForecasterError, ModelError
from forecaster.fitted import FittedModel
from forecaster.intervals import level_name, needed, parse_levels
from forecaster.loop import global_rank
from forecaster.registry import ChampionChanged, ModelStore, VersionInfo
from forecaster.serving import resolve_for
from forecaster.settings import paths
from forecaster.training import fit_model

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
    "load_group",
    "backtest_group",
    "GroupBacktestReport",
    "member_configs",
    "store_key",
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
    series: Series | SeriesGroup
    """The training series, or the group of a global model."""
    key: str
    version: VersionInfo | None
    table: pd.DataFrame
    """Rows: gru and every baseline; columns: mae, rmse (target units), windows; attrs["season"];
    for a group, pooled over its members' validation windows, and attrs["members"]: per member,
    the GRU's MAE and the best baseline's (name, MAE)."""
    seconds: float
    promoted: bool = False
    rank: int = 0
    """This process's rank in a multi-device fit; only rank 0 saves (``version`` is None elsewhere)."""


def validation_table(
    model: FittedModel, bcfg: BacktestConfig, members: Sequence[Series] | None = None
) -> pd.DataFrame:
    """MAE and RMSE (target units) of the model and every baseline on the model's validation windows.

    The baselines read only rows before each origin; Ridge is fitted on each member's training
    split, like the model. ``members``: the series of a group model (default the model's one
    training series); the table pools their windows, and ``attrs["members"]`` has each member's
    GRU MAE and best baseline. Rows: gru, then :data:`~forecaster.backtest.baselines.BASELINES`;
    ``attrs["season"]``.
    """
    members = list(members) if members is not None else [model.series]
    horizon, season = model.horizon, bcfg.season or bl.season_for(model.freq)
    actual, fc, per_member = [], {}, {}
    for member in members:
        try:
            origins = model.split_origins("val", member)
        except DataError:
            continue  # a group member with no validation window (e.g. a short history)
        y = member.values
        train_end = int(origins[0]) - model.lookback  # the validation split's first row
        methods = usable_baselines(bcfg, season, horizon, train_end)
        member_fc = {"gru": model.predict_origins(member, origins)} | baseline_forecasts(
            y, origins, horizon, bcfg, season, methods, (0, train_end), None
        )
        member_actual = bl.future_windows(y, origins, horizon)
        actual.append(member_actual)
        for name, f in member_fc.items():
            fc.setdefault(name, []).append(f)
        maes = {name: mt.mae(member_actual, f) for name, f in member_fc.items()}
        best = bl.best_baseline(maes)
        per_member[member.symbol] = {"gru": maes["gru"], "best": best, "best_mae": maes[best]}
    if not actual:
        raise DataError("no validation window to compare the model with the baselines on")
    a = np.concatenate(actual)
    rows = {
        name: {"mae": mt.mae(a, np.concatenate(f)), "rmse": mt.rmse(a, np.concatenate(f))}
        | {"windows": len(a)}
        for name, f in fc.items()
        if len(f) == len(actual)  # a baseline that some member lacked history for is left out
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs["season"] = season
    if len(members) > 1:
        table.attrs["members"] = per_member
    return table


def fit(
    cfg: Config,
    *,
    series: Series | SeriesGroup | None = None,
    save: bool = True,
    promote: str = "if-none",
    init_from: FittedModel | None = None,
) -> FitResult:
    """Train a GRU on the config's series, compare it with baselines, and save a model version.

    A config naming a group (``data.group``; ``--ticker AAPL,MSFT,IBM``) trains one global model
    on the pooled windows of its members, saved under the group's key; it serves every member.

    ``promote``: ``"if-none"`` makes the new model champion only when the series has none yet,
    ``"always"`` always, ``"never"`` never (nightly retraining decides for itself).
    """
    if series is None:
        series = load_group(cfg.data) if cfg.data.group is not None else load_data(cfg)
    key = store_key(cfg.data)
    t0 = time.perf_counter()
    model = fit_model(series, cfg, init_from=init_from, callbacks=faults.training_callbacks())
    seconds = time.perf_counter() - t0
    members = list(series) if isinstance(series, SeriesGroup) else None
    table = validation_table(model, cfg.backtest, members)
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


def _group_serving(st: ModelStore, cfg: Config) -> VersionInfo | None:
    """The newest group champion that lists the config's series as a member, if any."""
    symbol = (cfg.data.symbol or "").upper()
    found = []
    stored = st.keys()
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
    levels = cfg.backtest.levels if levels is None else list(parse_levels(levels) if levels else [])
    fitted, info = loaded if loaded is not None else load_model(cfg, model)
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
    frame = fitted.predict(series, levels)
    _warn_about_intervals(fitted, info, levels, frame.attrs.get("short_levels", []))
    files: dict[str, Path] = {}
    if out_dir is not None:
        files = _write_forecast(cfg, frame, series, fitted, info, Path(out_dir), plot)
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


def _write_forecast(
    cfg: Config,
    frame: pd.DataFrame,
    series: Series,
    fitted: FittedModel,
    info: VersionInfo,
    out_dir: Path,
    plot: bool,
) -> dict[str, Path]:
    """``forecast-<key>-<last time>.csv`` and ``.json`` (and a fan chart ``.html``) in ``out_dir``."""
    from forecaster.backtest.report import forecast_chart
    from forecaster.io import write_json, write_text

    short = [level_name(lv) for lv in frame.attrs.get("short_levels", [])]
    key = store_key(cfg.data)  # the series' own key, also when a group's model serves it
    stem = f"forecast-{key}-{series.end.strftime('%Y%m%dT%H%M')}"
    out = frame.reset_index().rename(columns={"index": "time"})
    for name in short:  # an interval with too few residuals is marked in the file itself
        out[f"short_{name}"] = True
    files = {"csv": write_text(out_dir / f"{stem}.csv", out.to_csv(index=False))}
    cal = fitted.calibration
    payload = {
        "series": key,
        "model": info.key,
        "model_version": info.version,
        "target": fitted.target,
        "unit": series.units.get(series.target, ""),
        "last_observation": {"time": str(series.end), "value": float(series.values[-1])},
        "intervals": None
        if cal is None or "median" not in frame
        else {
            "method": "split-conformal, scaled residuals per step",
            "calibration_origins": cal.n,
            "calibration_span": list(cal.span) if cal.span else None,
            "levels": [c[3:] for c in frame.columns if c.startswith("lo_")],
            "short": short,
        },
        "forecast": [
            {"time": str(t), "value": float(row["forecast"])}
            | {k: float(v) for k, v in row.items() if k != "forecast"}
            for t, row in frame.iterrows()
        ],
    }
    files["json"] = write_json(out_dir / f"{stem}.json", payload)
    if plot:
        files["html"] = forecast_chart(series, frame, out_dir / f"{stem}.html")
    return files


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


def _untrained_from(fitted: FittedModel | None, series: Series) -> int | None:
    """The first row of ``series`` after the model's training split: where interval calibration
    may start (the model never trained on it). None without a model (the engine's default)."""
    end = (fitted.meta.get("splits", {}).get("train", {}) if fitted is not None else {}).get("end")
    if end is None:
        return None
    return int(series.index.searchsorted(pd.Timestamp(end), side="right"))


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
    key = store_key(cfg.data)
    bcfg = cfg.backtest
    notes: list[str] = []
    fitted, info, refit = None, None, None
    if bcfg.refit_every > 0:

        def refit(train: Series) -> FittedModel:
            return fit_model(train, cfg, progress_bar=False)

        notes.append(f"GRU retrained every {bcfg.refit_every} origins ({bcfg.window} window)")
    elif model is not None and _has_saved(key, model):
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
        levels=bcfg.levels,
        calibration_start=_untrained_from(fitted, series),
        scale_lookback=cfg.model.lookback if fitted is None else None,
    )
    report = BacktestReport(result, series, key, info, notes=notes)
    if write:
        folder = _report_folder(key, out_dir)
        title = f"Backtest {key}: {series.target}" + (f" (model {info.version})" if info else "")
        report.files = write_report(result, series, folder, title)
    return report


def _has_saved(key: str, model: str) -> bool:
    """Whether ``model`` names a saved model to backtest (else one is trained first): any ref but
    ``champion``/``latest``, or those when the series has versions."""
    return model not in ("champion", "latest") or bool(store().version_ids(key))


def _report_folder(key: str, out_dir: Path | None) -> Path:
    """``out_dir``, or ``reports/backtest-<key>-<UTC time>`` (what the overview page links to)."""
    if out_dir is not None:
        return Path(out_dir)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S")
    return paths().reports / f"backtest-{key}-{stamp}"


# -- groups: one global model, many series ------------------------------------------------------------
@dataclass
class GroupBacktestReport:
    """A group model's walk-forward backtest: one :class:`BacktestReport` per member, each over
    the member's rows after the group's validation cut, and the members pooled."""

    key: str
    version: VersionInfo | None
    members: dict[str, BacktestReport]
    overall: pd.DataFrame
    """Rows: methods; columns: mae (pooled, target units), skill (mean over members of
    1 - MAE/MAE(naive)), members (how many had the method), and coverage_<level> (pooled, %)."""
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def backtest_group(
    cfg: Config, *, model: str = "champion", out_dir: Path | None = None, write: bool = True
) -> GroupBacktestReport:
    """Backtest a group's global model on every member, and pooled.

    ``model``: the group's ``champion``, ``latest``, a version id or a folder; when the group has
    no saved model and ``model`` is ``champion`` or ``latest``, one is trained on every member's
    data before the group's test cut and saved. Each member is evaluated from the first row after
    the cut (``backtest.start`` overrides) with the single-series engine, baselines included.
    """
    key = store_key(cfg.data)
    group = load_group(cfg.data)
    notes: list[str] = []
    if _has_saved(key, model):
        fitted, info = load_model(cfg, model)
        cut = fitted.group_cuts.val_end if fitted.group_cuts is not None else None
    else:
        m = cfg.model
        cuts = group_cuts(
            [s.index for s in group],
            val_fraction=cfg.train.val_fraction,
            test_fraction=cfg.train.test_fraction,
        )
        cut = cuts.val_end
        if cut is None:
            raise DataError(f"group {group.name}: train.test_fraction leaves no test span")
        train = from_series(group.name, [s.until(cut) for s in group], key=key)
        log.warning("no saved model for %s; training one on the data before %s", key, cut)
        trained = fit(cfg, series=train)
        fitted, info = trained.model, trained.version
        notes.append(f"trained model {info.version} on data before {cut} (lookback {m.lookback})")
    reports: dict[str, BacktestReport] = {}
    for series in group:
        bcfg = cfg.backtest
        if bcfg.start is None and cut is not None:
            # a member that starts after the cut is evaluated once it has a lookback of history
            first = max(int(series.index.searchsorted(cut)), fitted.lookback)
            if first >= len(series) - fitted.horizon:
                notes.append(f"{series.symbol}: no rows after the group's test cut; left out")
                continue
            bcfg = bcfg.model_copy(update={"start": None, "end": None})
            test_fraction = (len(series) - first) / len(series)
        else:
            test_fraction = cfg.train.test_fraction
        result = run_backtest(
            series,
            fitted,
            cfg=bcfg,
            test_fraction=test_fraction,
            model_name="gru",
            levels=bcfg.levels,
            calibration_start=_untrained_from(fitted, series),
        )
        reports[series.symbol] = BacktestReport(result, series, key, info)
    if not reports:
        raise DataError(f"group {group.name}: no member has rows to backtest after the test cut")
    report = GroupBacktestReport(key, info, reports, _pooled(reports), notes)
    if write:
        folder = _report_folder(key, out_dir)
        for symbol, member in reports.items():
            title = (
                f"Backtest {key}, member {symbol}: {member.series.target} (model {info.version})"
            )
            member.files = write_report(member.result, member.series, folder / symbol, title)
        from forecaster.io import write_json

        report.files["overall"] = write_json(
            folder / "overall.json",
            {"key": key, "model_version": info.version, "members": list(reports)}
            | {"overall": report.overall.round(6).to_dict(orient="index")},
        )
    return report


def _pooled(reports: dict[str, BacktestReport]) -> pd.DataFrame:
    """The members' backtests pooled: MAE over every origin, skill averaged, coverage pooled."""
    methods = list(next(iter(reports.values())).result.methods)
    rows = {}
    for method in methods:
        have = [r.result for r in reports.values() if method in r.result.forecasts]
        actual = np.concatenate([r.actuals for r in have])
        fc = np.concatenate([r.forecasts[method] for r in have])
        row = {
            "mae": mt.mae(actual, fc),
            "skill": float(np.mean([r.metrics.loc[method, "skill"] for r in have])),
            "members": len(have),
        }
        for level in have[0].levels:
            lo = np.concatenate([r.intervals[method][level][0] for r in have])
            hi = np.concatenate([r.intervals[method][level][1] for r in have])
            row[f"coverage_{level_name(level)}"] = mt.coverage(actual, lo, hi)
        rows[method] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def member_configs(cfg: Config) -> list[Config]:
    """One config per member of the group ``cfg`` names (the same settings, one series each)."""
    if cfg.data.group is None:
        return [cfg]
    return [
        cfg.model_copy(update={"data": member_config(cfg.data, symbol)})
        for symbol in cfg.data.group.symbols
    ]


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
    p = float(selection["p_value"])
    p_text = "p<0.001" if p < 0.001 else f"p={p:.2g}"
    return (
        f"The GRU beat {name} on validation (MAE {selection['trained_mae']:.4g} vs "
        f"{selection['anchor_mae']:.4g}, {p_text}){kept}."
    )


def _better_baseline_note(table: pd.DataFrame, model: FittedModel) -> list[str]:
    """A line when a baseline beat the saved model on validation, saying why it was not shipped."""
    best = bl.best_baseline(table["mae"].astype(float).to_dict())
    if best is None or "gru" not in table.index:
        return []
    gru_mae, best_mae = float(table.loc["gru", "mae"]), float(table.loc[best, "mae"])
    if not best_mae < gru_mae:
        return []
    anchor = str((model.meta.get("anchor") or {}).get("name", "naive"))
    return [
        f"Note: {best.replace('_', ' ')} was {1 - best_mae / gru_mae:.1%} better on validation; "
        f"the anchor is chosen on the training windows, where {anchor.replace('_', ' ')} was best."
    ]


def describe_fit(result: FitResult) -> str:
    """A short human-readable summary of a fit (what the CLI prints)."""
    m, c = result.model, result.model.config
    group = result.series if isinstance(result.series, SeriesGroup) else None
    s = group.members[0] if group is not None else result.series
    unit = s.units.get(s.target, "")
    arch = f"{c.model.num_layers}x{c.model.hidden_size} {'bidirectional ' if c.model.bidirectional else ''}GRU"
    if group is None:
        what = (
            f"{s.source}:{s.symbol} '{s.target}'{f' ({unit})' if unit else ''}, "
            f"{s.start:%Y-%m-%d %H:%M} .. {s.end:%Y-%m-%d %H:%M}, {len(s):,} rows"
        )
    else:
        sizes = ", ".join(f"{x.symbol} {len(x):,}" for x in group)
        what = (
            f"group {group.name} '{s.target}'{f' ({unit})' if unit else ''}: one model, "
            f"{len(group)} series ({sizes} rows)"
        )
    lines = [
        f"Trained {arch} on {what}",
        f"  lookback {c.model.lookback} -> horizon {c.model.horizon} steps ({s.freq}), "
        f"{m.meta.get('epochs_trained', '?')} epochs (best {m.meta.get('best_epoch', '?')}), {result.seconds:.0f} s",
    ]
    table = result.table
    best = {col: table[col].idxmin() for col in ("mae", "rmse")}
    pooled = " pooled over the members" if group is not None else ""
    lines.append(
        f"Validation on {int(table['windows'].iloc[0]):,} windows{pooled} "
        f"(errors in {unit or 'target units'}):"
    )
    lines.append(
        f"  {'method':<20}{'MAE':>10}{'RMSE':>10}   (seasonal naive: season {table.attrs.get('season', '?')})"
    )
    for name, row in table.iterrows():
        marks = "".join("*" if best[c] == name else " " for c in ("mae", "rmse"))
        lines.append(
            f"  {name:<20}{row['mae']:>10.4g}{row['rmse']:>10.4g}  {marks.strip() and '* best'}"
        )
    for symbol, row in table.attrs.get("members", {}).items():
        lines.append(
            f"  {symbol:<20}gru {row['gru']:.4g} vs best baseline {row['best']} {row['best_mae']:.4g}"
        )
    lines.append(anchor_summary(m))
    lines.extend(_better_baseline_note(table, m))
    if result.version is not None:
        lines.append(f"Saved {result.key} version {result.version.version}")
        lines.append(f"  {result.version.path}")
        if result.promoted:
            lines.append("  (now the champion)")
    return "\n".join(lines)
