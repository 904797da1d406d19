"""A walk-forward backtest of a saved (or freshly trained) model on one series or every member of a
group, against the baselines, with the HTML report: one path, a single series being a group of one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.backtest import metrics as mt
from forecaster.backtest.engine import BacktestResult, backtest_span, run_backtest
from forecaster.backtest.evaluate import pooled
from forecaster.backtest.report import write_report
from forecaster.config import BacktestConfig, Config
from forecaster.data.group import SeriesGroup, from_series, store_key
from forecaster.data.series import Series
from forecaster.data.splits import cuts_for
from forecaster.errors import ConfigError, DataError, ModelError
from forecaster.fitted import FittedModel
from forecaster.fitting import fit, load_members
from forecaster.intervals import level_name
from forecaster.io import write_json
from forecaster.loop import cpu_threads, torch_threads
from forecaster.models import NAME
from forecaster.registry import VersionInfo
from forecaster.serving import has_saved, load_model, model_data_config
from forecaster.settings import paths
from forecaster.training import fit_model

log = logging.getLogger(__name__)


@dataclass
class BacktestReport:
    """A walk-forward backtest of one series, the model it evaluated, and the report files."""

    result: BacktestResult
    series: Series
    key: str
    version: VersionInfo | None
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class GroupBacktestReport:
    """A group model's walk-forward backtest: one :class:`BacktestReport` per member, each over
    the member's rows after the group's validation cut, and the members pooled."""

    key: str
    version: VersionInfo | None
    members: dict[str, BacktestReport]
    overall: pd.DataFrame
    """Rows: methods; columns: mae and rmse (pooled relative to naive, see
    :func:`~forecaster.backtest.evaluate.pooled`), skill (mean over members of 1 - MAE/MAE(naive)),
    members (how many had the method), and coverage_<level> (pooled, %)."""
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class _Plan:
    """What a backtest evaluates: the model (or a refit), where each member's span starts."""

    fitted: FittedModel | None
    info: VersionInfo | None
    cfg: Config
    notes: list[str]
    refit: object = None
    cut: pd.Timestamp | None = None
    """Where a group's test span starts when it is not the model's own cut (a model trained
    here, on the rows before it)."""


def backtest(
    cfg: Config,
    *,
    model: str | None = "champion",
    out_dir: Path | None = None,
    series: Series | None = None,
    write: bool = True,
) -> BacktestReport | GroupBacktestReport:
    """Walk-forward backtest of the GRU and every baseline on identical origins, plus a report.

    ``model``: a saved model (``champion``, ``latest``, a version id or a folder; for a series also
    ``group:NAME``); when there is none and ``model`` is ``champion`` or ``latest``, one is trained
    on the data before the test span and saved. A saved model is scored with its procedure's weights
    (:meth:`~forecaster.fitted.FittedModel.procedure`: trained before its validation rows), never
    the served ones, which trained through its last row. With ``cfg.backtest.refit_every = k > 0``
    the GRU is instead retrained every k origins on the data before each origin (one series only);
    each refit serves its weights trained through the rows before its origin.
    ``model=None`` evaluates the baselines only. A config naming a group backtests every member
    (each from the first row after the model's validation cut) and pools them.
    """
    key = store_key(cfg.data)
    data = series if series is not None else None
    plan = _plan(cfg, key, model, data)
    data = data if data is not None else load_members(plan.cfg)
    members = list(data) if isinstance(data, SeriesGroup) else [data]
    if plan.fitted is None and model is not None and plan.refit is None:
        _train_first(plan, key, data, members)
    reports: dict[str, BacktestReport] = {}
    for member in members:
        span = _member_span(member, plan)
        if span is None:
            plan.notes.append(f"{member.symbol}: no rows after the group's test cut; left out")
            continue
        with torch_threads(cpu_threads()):  # as a fit forecasts: more threads only contend
            result = _run(member, plan, *span)
        reports[member.symbol] = BacktestReport(result, member, key, plan.info)
    if not reports:
        raise DataError(f"{key}: no member has rows to backtest after the test cut")
    if cfg.data.group is None:
        report = reports[members[0].symbol]
        report.notes = plan.notes
        if write:
            _write_single(report, out_dir)
        return report
    group = GroupBacktestReport(key, plan.info, reports, pool_reports(reports), plan.notes)
    if write:
        _write_group(group, out_dir)
    return group


def _plan(cfg: Config, key: str, model: str | None, data) -> _Plan:
    bcfg = cfg.backtest
    if bcfg.refit_every > 0:
        if cfg.data.group is not None:
            raise ConfigError(
                "backtest.refit_every retrains one series' model — backtest a group without it"
            )
        refit = lambda train: fit_model(train, cfg, progress_bar=False)  # noqa: E731
        note = f"GRU retrained every {bcfg.refit_every} origins ({bcfg.window} window)"
        return _Plan(None, None, cfg, [note], refit)
    if model is not None and has_saved(key, model):
        fitted, info = load_model(cfg, model)
        # the procedure's weights: the served ones trained through the model's last row
        fitted = fitted.procedure()
        return _Plan(fitted, info, model_data_config(fitted, cfg), [])
    return _Plan(None, None, cfg, [])


def _train_first(plan: _Plan, key: str, data, members: list[Series]) -> None:
    """No saved model: train one on every member's rows before the test span, and save it."""
    cut = _test_cut(plan.cfg, members)
    train = (
        from_series(data.name, [s.until(cut) for s in members], key=key)
        if isinstance(data, SeriesGroup)
        else members[0].until(cut)
    )
    log.warning("no saved model for %s; training one on the data before %s", key, cut)
    trained = fit(plan.cfg, series=train)
    plan.fitted, plan.info = trained.model.procedure(), trained.version
    plan.notes.append(f"trained model {plan.info.version} on data before {cut}")
    plan.cut = cut


def _test_cut(cfg: Config, members: list[Series]) -> pd.Timestamp:
    """The instant the test span starts: the backtest's dates, else the split's test cut."""
    if len(members) == 1 or cfg.backtest.start is not None:
        first = members[0]
        return first.index[backtest_span(first, cfg.backtest, cfg.train.test_fraction)[0]]
    cut = cuts_for([s.index for s in members], cfg.train).val_end
    if cut is None:
        raise DataError(f"{store_key(cfg.data)}: train.test_fraction leaves no test span")
    return cut


def _member_span(member: Series, plan: _Plan) -> tuple[BacktestConfig, float] | None:
    """The backtest settings and test fraction that start ``member``'s span where it should: by
    the backtest's dates or test fraction for one series; for a group member the first row after
    the model's validation cut (once it has a lookback of history). None: no rows to backtest."""
    bcfg, fitted = plan.cfg.backtest, plan.fitted
    group_cut = plan.cut
    if group_cut is None and fitted is not None and fitted.cuts is not None:
        group_cut = fitted.cuts.val_end
    if plan.cfg.data.group is None or bcfg.start is not None or group_cut is None:
        fraction = plan.cfg.train.test_fraction
        if fitted is not None:
            start = backtest_span(member, bcfg, fraction)[0]
            _check_no_overlap(fitted, member, member.index[start], plan.info)
        return bcfg, fraction
    first = max(int(member.index.searchsorted(group_cut)), fitted.lookback)
    if first >= len(member) - fitted.horizon:
        return None
    bcfg = bcfg.model_copy(update={"start": None, "end": None})
    return bcfg, (len(member) - first) / len(member)


def _check_no_overlap(fitted: FittedModel, series: Series, test_start, info) -> None:
    """A fixed model must not have trained (or early-stopped) on the span it is evaluated on."""
    seen_until = trained_until(fitted)
    if seen_until is not None and pd.Timestamp(seen_until) >= test_start:
        version = info.version if info is not None else "in memory"
        raise ModelError(
            f"model {version} was trained on data up to {seen_until}, inside the backtest span starting "
            f"{test_start} — evaluating it there would leak the future; use --start after {seen_until}, "
            "or --refit-every K to retrain inside the span"
        )


def trained_until(fitted: FittedModel) -> str | None:
    """The last timestamp the weights in ``fitted.module`` trained or early-stopped on: the end of
    the validation split for the procedure's (a model saved before serving: its data's end), the
    end of the served span for served weights that differ from the procedure's."""
    served = fitted.meta.served
    if fitted.procedure_state is not None and served is not None:
        return served.end
    val = fitted.meta.splits.get("val")
    return (val.end if val is not None else None) or fitted.meta.data.end


def _run(member: Series, plan: _Plan, bcfg: BacktestConfig, fraction: float) -> BacktestResult:
    fitted = plan.fitted
    return run_backtest(
        member,
        fitted,
        cfg=bcfg,
        horizon=plan.cfg.model.horizon if fitted is None else None,
        test_fraction=fraction,
        refit=plan.refit,
        model_name=NAME,
        levels=bcfg.levels,
        calibration_start=_untrained_from(fitted, member),
        scale_lookback=plan.cfg.model.lookback if fitted is None else None,
    )


def _untrained_from(fitted: FittedModel | None, series: Series) -> int | None:
    """The first row of ``series`` after the model's training split: where interval calibration
    may start (the model never trained on it). None without a model (the engine's default)."""
    train = fitted.meta.splits.get("train") if fitted is not None else None
    if train is None or train.end is None:
        return None
    return int(series.index.searchsorted(pd.Timestamp(train.end), side="right"))


def pool_reports(reports: dict[str, BacktestReport]) -> pd.DataFrame:
    """The members' backtests pooled: MAE and RMSE relative to naive (the one pooling rule), skill
    averaged, coverage pooled over every origin."""
    results = {k: r.result for k, r in reports.items()}
    methods = list(next(iter(results.values())).methods)
    errors = {
        k: {
            m: {
                "mae": r.metrics.loc[m, "mae"],
                "rmse": r.metrics.loc[m, "rmse"],
                "windows": r.n_origins,
            }
            for m in r.forecasts
        }
        for k, r in results.items()
    }
    rows = {}
    for method in methods:
        have = {k: r for k, r in results.items() if method in r.forecasts}
        row = pooled({k: errors[k] for k in have}, [method])[method]
        row = {"mae": row["mae"], "rmse": row["rmse"]}
        row["skill"] = float(np.mean([r.metrics.loc[method, "skill"] for r in have.values()]))
        row["members"] = len(have)
        row |= _pooled_coverage(list(have.values()), method)
        rows[method] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _pooled_coverage(have: list[BacktestResult], method: str) -> dict[str, float]:
    actual = np.concatenate([r.actuals for r in have])
    out = {}
    for level in have[0].levels:
        lo = np.concatenate([r.intervals[method][level][0] for r in have])
        hi = np.concatenate([r.intervals[method][level][1] for r in have])
        out[f"coverage_{level_name(level)}"] = mt.coverage(actual, lo, hi)
    return out


def report_folder(key: str, out_dir: Path | None) -> Path:
    """``out_dir``, or ``reports/backtest-<key>-<UTC time>`` (what the overview page links to)."""
    if out_dir is not None:
        return Path(out_dir)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S")
    return paths().reports / f"backtest-{key}-{stamp}"


def _write_single(report: BacktestReport, out_dir: Path | None) -> None:
    info, series = report.version, report.series
    title = f"Backtest {report.key}: {series.target}" + (f" (model {info.version})" if info else "")
    report.files = write_report(report.result, series, report_folder(report.key, out_dir), title)


def _write_group(report: GroupBacktestReport, out_dir: Path | None) -> None:
    folder, version = report_folder(report.key, out_dir), report.version.version
    for symbol, member in report.members.items():
        title = f"Backtest {report.key}, member {symbol}: {member.series.target} (model {version})"
        member.files = write_report(member.result, member.series, folder / symbol, title)
    report.files["overall"] = write_json(
        folder / "overall.json",
        {"key": report.key, "model_version": version, "members": list(report.members)}
        | {"overall": report.overall.round(6).to_dict(orient="index")},
    )
