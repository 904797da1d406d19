"""Nightly retraining: refresh each job's data, train a challenger, keep the better model.

For every job in ``configs/nightly.yaml``:

1. take the job's lock (a second run on the same job waits ``lock_timeout`` seconds, then says so),
   held for the whole job so a job is never trained twice at once;
2. clean up what a killed run left behind; refresh the data incrementally;
3. skip when nothing is new since the champion's data, or since the last attempt (a challenger
   that was kept is not retrained on the same data with the same config), unless forced;
4. train a challenger (from scratch, or warm-started from the champion);
5. score challenger and champion on the same most recent holdout with the backtest engine;
6. promote only when the challenger is finite and better by the configured metric and margin, and
   only if the champion is still the one it was scored against (re-read under the store lock: a
   `forecast models promote` made during training wins, and the summary says so);
7. keep the newest ``keep_versions`` versions (never the champion).

The job lock is separate from the model store's own per-series lock, which every writer (fit,
promote, rollback, prune, recover) takes for short critical sections only.

Each job is one task (:func:`run_job`) for an executor (:mod:`forecaster.executors`): one after
another in this process, in worker processes, or on a Ray cluster; the steps above, the locks and
the summary are the same whichever runs them. One failing job (or dead worker) never stops the
others; the run's exit code says whether any failed. Each night
writes ``runs/<date>/retrain-<time>-<id>.json`` and a short ``.txt`` report under the data root
(the id keeps two runs started in the same second from overwriting each other's summary), also
when the run is interrupted with Ctrl+C (the jobs it did not finish are marked so).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import secrets
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from forecaster import api, executors, faults
from forecaster import config as cfgmod
from forecaster.backtest import baselines as bl
from forecaster.backtest.baselines import BASELINES
from forecaster.backtest.engine import run_backtest
from forecaster.config import BacktestConfig, Config, StrictModel
from forecaster.config_rules import Name
from forecaster.data.group import SeriesGroup
from forecaster.data.group import store_key as series_key
from forecaster.data.series import Series
from forecaster.data.sources import SOURCES
from forecaster.errors import (
    ConfigError,
    DataError,
    ForecasterError,
    LockedError,
    StorageError,
    storage_error,
    user_facing,
)
from forecaster.fitted import FittedModel
from forecaster.intervals import level_name
from forecaster.io import held_lock, write_json, write_text
from forecaster.overview import forecast_record, write_overview
from forecaster.registry import ChampionChanged
from forecaster.settings import paths

log = logging.getLogger(__name__)
SCORES = ("mae", "rmse", "smape")


class JobConfig(StrictModel):
    """One series to retrain: a base config plus the series and overrides."""

    name: Name
    config: str | None = None
    """Base config (path or name in configs/); default: by the series' source."""
    ticker: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    csv: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Dotted config keys, e.g. ``{"train.max_epochs": 10}``."""

    @model_validator(mode="after")
    def _one_series(self) -> JobConfig:
        given = [k for k in ("ticker", "city", "csv") if getattr(self, k)] + (
            ["lat/lon"] if self.lat is not None else []
        )
        if len(given) > 1:
            raise ValueError(f"job '{self.name}' names more than one series: {given}")
        return self


class NightlyConfig(StrictModel):
    """The nightly job list and the promotion policy."""

    metric: Literal["mae", "rmse", "smape"] = "mae"
    margin: float = Field(0.0, ge=0, lt=1)
    """Promote only if the challenger's error < champion's x (1 - margin)."""
    require_beat_baseline: bool = True
    """Also require the challenger's error < the best baseline's x (1 - margin) on the same holdout
    (naive, seasonal naive, drift, moving average, Ridge): a model that a forecast without a model
    beats is not promoted. A series with no usable champion still gets the challenger."""
    holdout_fraction: float = Field(0.1, gt=0, lt=0.5)
    """The most recent share of the series on which challenger and champion are scored."""
    max_holdout_origins: int = Field(500, ge=1)
    keep_versions: int = Field(5, ge=1)
    warm_start: bool = False
    on_unreachable: Literal["cached", "skip"] = "cached"
    """When the live source is down: train on cached/snapshot data, or skip the job."""
    lock_timeout: float = Field(0, ge=0)
    """Seconds to wait for a job's lock held by another run (0: give up at once)."""
    executor: executors.Kind = "serial"
    """Where the jobs run: one after another in this process, in worker processes on this
    machine, or as tasks on a Ray cluster (see :mod:`forecaster.executors`)."""
    workers: int | None = Field(None, ge=1)
    """Jobs at once (process, ray); default one per core, or per CPU of the Ray cluster."""
    address: str | None = None
    """Ray only: ``auto`` joins the cluster started with ``ray start`` (or ``host:port``); none
    starts a local cluster for the run."""
    jobs: list[JobConfig]

    @model_validator(mode="after")
    def _unique(self) -> NightlyConfig:
        names = [j.name for j in self.jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique, got {names}")
        if not self.jobs:
            raise ValueError("no jobs configured")
        return self


def load_nightly(path: str | Path) -> NightlyConfig:
    """Read and validate a nightly config (one-line ConfigError on problems)."""
    from pydantic import ValidationError

    resolved = cfgmod.resolve_config_path(path)
    raw = cfgmod.read_yaml(resolved)
    try:
        return NightlyConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(cfgmod.format_validation_error(exc, str(resolved))) from None


def job_config(job: JobConfig, nightly: NightlyConfig) -> Config:
    """The job's resolved config; a one-line ConfigError for settings a nightly job cannot run."""
    over = dict(job.overrides)
    if nightly.warm_start:
        over.setdefault("train.warm_start", True)
    over.setdefault("train.progress_bar", False)
    cfg = api.make_config(
        job.config,
        ticker=job.ticker,
        city=job.city,
        lat=job.lat,
        lon=job.lon,
        csv=job.csv,
        overrides=over,
    )
    t = cfg.train
    if t.strategy == "ddp" or t.devices * t.num_nodes > 1:
        # DDP starts the whole command again per device: here, the whole night.
        raise ConfigError(
            f"job '{job.name}' asks for multi-device training (train.devices={t.devices}, "
            f"num_nodes={t.num_nodes}, strategy={t.strategy}), which is for `forecast fit`; a "
            "nightly job trains on one device — spread the night over workers with --executor "
            "process or ray instead"
        )
    return cfg


@dataclass
class JobOutcome:
    """What happened to one job tonight."""

    job: str
    key: str = ""
    status: str = "failed"  # promoted | kept | skipped | failed | locked | would-train
    # | interrupted | not run
    reason: str = ""
    champion_before: str | None = None
    champion_after: str | None = None
    challenger: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    data_end: str | None = None
    data_source: str | None = None
    seconds: float = 0.0
    coverage: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Holdout interval coverage (%) of challenger, champion and the best baseline, per level
    (``{"challenger": {"80": 79.5, "95": 94.1}}``); the nightly overview page shows it."""
    forecast: dict[str, Any] | None = None
    """The champion's forecast from the newest data with its intervals, as plain lists
    (:func:`forecaster.overview.forecast_record`); None without a champion."""
    skipped_members: list[str] = field(default_factory=list)
    """A group job's members that could not be loaded tonight, with why (the rest trained)."""
    worker: str = ""
    """Where the job ran: host and pid (and the Ray node and worker ids on Ray)."""


def score_on_holdout(
    models: dict[str, FittedModel],
    series: Series,
    fraction: float,
    max_origins: int,
    levels: Sequence[float] = (),
) -> tuple[dict[str, dict[str, float]], int]:
    """Score each model and every baseline with the backtest engine on identical recent origins.

    Returns ``{name: {metric: value}}`` for every model and baseline, and the origin count. A
    method whose forecasts are not finite scores ``inf`` (never promoted, never the best baseline).
    With ``levels`` (percent) each also gets ``coverage_<level>``: the holdout coverage (%) of its
    conformal intervals (calibrated by the engine on the rows before the holdout).
    """
    cfg = BacktestConfig(max_origins=max_origins)
    scores: dict[str, dict[str, float]] = {}
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
            levels=levels,
        )
        n_origins = result.n_origins
        for method in (name, *baselines):
            if not np.isfinite(result.forecasts[method]).all():
                scores[method] = {m: float("inf") for m in SCORES}
            else:
                scores[method] = {m: float(result.metrics.loc[method, m]) for m in SCORES}
            if result.interval_metrics is not None:
                scores[method] |= {
                    f"coverage_{level_name(lv)}": float(
                        result.interval_metrics.loc[(method, lv)].coverage
                    )
                    for lv in result.levels
                }
    return scores, n_origins


def score_group_on_holdout(
    models: dict[str, FittedModel],
    group: SeriesGroup,
    nightly: NightlyConfig,
    levels: Sequence[float] = (),
) -> tuple[dict[str, dict[str, float]], int, dict[str, dict[str, dict[str, float]]]]:
    """A group model's holdout: every member scored on its own newest rows (:func:`score_on_holdout`),
    then pooled. Members are on different scales (prices of 25 and 600 USD), so a method's pooled
    score is the mean over members of its score divided by the member's naive score (naive: 1);
    coverage is the mean coverage. Returns the pooled scores, the origins in all, and the members'
    own scores. A member too short for the holdout is left out.
    """
    per_member: dict[str, dict[str, dict[str, float]]] = {}
    total = 0
    for member in group:
        try:
            scores, n = score_on_holdout(
                models, member, nightly.holdout_fraction, nightly.max_holdout_origins, levels
            )
        except DataError as exc:
            log.info("%s: left out of the holdout (%s)", member.symbol, exc)
            continue
        per_member[member.symbol] = scores
        total += n
    if not per_member:
        raise DataError(f"group {group.name}: no member has enough rows for the holdout")
    pooled: dict[str, dict[str, float]] = {}
    for method in next(iter(per_member.values())):
        rows = [s for s in per_member.values() if method in s]
        pooled[method] = {
            k: float(
                np.mean(
                    [
                        r[method][k] if k.startswith("coverage_") else _relative(r, method, k)
                        for r in rows
                    ]
                )
            )
            for k in rows[0][method]
        }
    return pooled, total, per_member


def _relative(scores: dict[str, dict[str, float]], method: str, metric: str) -> float:
    naive = scores["naive"][metric]
    return scores[method][metric] / naive if naive > 0 else float("inf")


def _members_worse_than_baseline(
    per_member: dict[str, dict[str, dict[str, float]]], metric: str, margin: float
) -> str:
    """The members whose challenger is worse than their own best baseline by more than the margin,
    in words (empty when none): a global model must not sacrifice a member for the average."""
    worse = []
    for symbol, scores in per_member.items():
        name, base = best_baseline(scores, metric)
        chall = scores["challenger"][metric]
        if not chall <= base * (1 + margin):
            worse.append(f"{symbol} {metric} {chall:.4g} vs {name} {base:.4g}")
    return "; ".join(worse) + (f" (margin {margin:.0%})" if worse else "")


def best_baseline(scores: dict[str, dict[str, float]], metric: str) -> tuple[str, float]:
    """The baseline with the lowest ``metric`` among ``scores`` (ties: report order)."""
    name = bl.best_baseline({b: scores[b][metric] for b in BASELINES if b in scores})
    return name, scores[name][metric]


def _live(source: str) -> bool:
    """Whether ``source`` is a network source (its registry entry says so; snapshots are not)."""
    entry = SOURCES.get(source)
    return entry is not None and entry.live


def _champion_data_end(info) -> pd.Timestamp | None:
    end = (info.meta or {}).get("data", {}).get("end")
    return pd.Timestamp(end) if end else None


def run_job(
    job: JobConfig, nightly: NightlyConfig, *, force: bool = False, dry_run: bool = False
) -> JobOutcome:
    """Retrain one job under its lock. Raises only for bugs; user-facing problems become the outcome."""
    out = JobOutcome(job=job.name)
    t0 = time.perf_counter()
    try:
        cfg = job_config(job, nightly)
        out.key = key = series_key(cfg.data)
        lock_path = paths().locks / f"{key}.lock"
        with held_lock(
            lock_path,
            timeout=nightly.lock_timeout,
            busy=f"job '{job.name}' ({key}) is being retrained by another run (lock {lock_path}); "
            "it was left alone — wait for that run to finish",
            action=f"take the lock of job '{job.name}'",
        ):
            faults.point("retrain.locked")
            series, held = _run_locked(job, nightly, cfg, out, force=force, dry_run=dry_run)
            if not dry_run:  # for the overview page; under the lock, so the champion stays put
                out.forecast = _champion_forecast(out, series, cfg.backtest.levels, held)
    except ForecasterError as exc:
        out.status, out.reason = ("locked" if isinstance(exc, LockedError) else "failed"), str(exc)
    # One broken job must not stop the others; the traceback goes to the debug log.
    except Exception as exc:
        mapped = user_facing(exc)  # a bad file or a full disk is not a bug: say it in one line
        out.status = "failed"
        out.reason = " ".join((str(mapped) if mapped else f"{type(exc).__name__}: {exc}").split())
        log.debug("job %s crashed:\n%s", job.name, traceback.format_exc())
    out.seconds = round(time.perf_counter() - t0, 1)
    return out


def _digest(cfg: Config, nightly: NightlyConfig) -> str:
    """What decides a challenger besides the data: the job's config and the promotion policy."""
    policy = nightly.model_dump(
        mode="json",
        exclude={"jobs", "keep_versions", "lock_timeout", "executor", "workers", "address"},
    )
    text = json.dumps([cfg.model_dump(mode="json"), policy], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _tried_already(st, key: str, series: Series, digest: str, champion: str | None) -> str | None:
    """Why training again would repeat the last attempt, or None.

    The last attempt counts when it saw data up to the same end with the same config and policy,
    and the champion is still the one it was scored against (or the challenger it promoted).
    """
    last = st.last_event(key, "attempt")
    if not last or last.get("config") != digest or not last.get("data_end"):
        return None
    try:
        seen = pd.Timestamp(last["data_end"])
    except (TypeError, ValueError):
        return None
    if champion not in (last.get("compared_with"), last.get("challenger")) or series.end > seen:
        return None
    return (
        f"nothing new since the last attempt ({str(last.get('at', '?'))[:16]}: challenger "
        f"{last.get('challenger')} {last.get('status')}, data up to {seen}) — --force trains anyway"
    )


def _run_locked(
    job: JobConfig,
    nightly: NightlyConfig,
    cfg: Config,
    out: JobOutcome,
    *,
    force: bool,
    dry_run: bool,
) -> tuple[Series | SeriesGroup, dict[str, FittedModel]]:
    """The job's work under its lock; fills ``out`` and returns the series it loaded and the
    models it holds in memory by version (the champion it loaded, the challenger it trained)."""
    held: dict[str, FittedModel] = {}
    st = api.store()
    if st.recover(out.key):
        log.warning("%s: removed what an interrupted run left behind", out.key)
    champion_id = st.champion(out.key)
    out.champion_before = out.champion_after = champion_id
    if champion_id is None and st.version_ids(out.key):
        log.warning(
            "%s: no usable champion (CHAMPION is missing, garbled or names a missing version); "
            "tonight's challenger replaces it if it is finite",
            out.key,
        )

    faults.point("retrain.data")
    if cfg.data.group is not None:  # a member that fails to load is reported; the rest train
        series = api.load_group(cfg.data, skip_failed=True)
        out.skipped_members = [f"{symbol}: {why}" for symbol, why in series.skipped]
    else:
        series = api.load_data(cfg)
    out.data_end, out.data_source = str(series.end), series.source
    if _live(cfg.data.source) and not _live(series.source):
        if nightly.on_unreachable == "skip":
            out.status, out.reason = (
                "skipped",
                f"{cfg.data.source} unreachable; configured to skip (on_unreachable: skip)",
            )
            return series, held
        log.warning("%s: using %s data (source unreachable)", job.name, series.source)

    champion_info = st.info(out.key, champion_id) if champion_id else None
    digest = _digest(cfg, nightly)
    if champion_info is not None and not force:
        end = _champion_data_end(champion_info)
        if end is not None and series.end <= end:
            out.status, out.reason = (
                "skipped",
                f"no new data since the champion's (data up to {end})",
            )
            return series, held
    if not force and (why := _tried_already(st, out.key, series, digest, champion_id)):
        out.status, out.reason = "skipped", why
        return series, held
    if dry_run:
        out.status = "would-train"
        out.reason = "new data" if champion_info else "no champion yet"
        return series, held

    champion = _load_champion(champion_info, job.name)
    if champion is not None:
        held[champion_id] = champion
    init = champion if cfg.train.warm_start else None
    result = api.fit(cfg, series=series, promote="never", init_from=init)
    out.challenger = result.version.version if result.version else None
    if out.challenger is not None:
        held[out.challenger] = result.model
    faults.point("retrain.trained")
    try:
        try:
            _decide(out, nightly, st, result, champion, series)
        except ChampionChanged as exc:
            out.status, out.champion_after = "kept", exc.current
            out.reason = (
                f"the champion was switched to {exc.current or 'none'} (by `forecast models` or "
                f"another run) while this job trained; challenger {out.challenger} is saved but "
                "not promoted over it — the next run scores against the new champion"
            )
        st.record(
            out.key,
            "attempt",
            challenger=out.challenger,
            status=out.status,
            compared_with=champion_id,
            data_end=str(series.end),
            config=digest,
        )
    finally:
        pruned = st.prune(out.key, nightly.keep_versions)
        if pruned:
            log.info("%s: removed %d old version(s)", out.key, len(pruned))
    return series, held


def _champion_forecast(
    out: JobOutcome,
    series: Series | SeriesGroup,
    levels: Sequence[float],
    held: dict[str, FittedModel],
) -> dict[str, Any] | None:
    """The champion's forecast from ``series`` with intervals at ``levels``, as plain lists
    (:func:`forecaster.overview.forecast_record`); None without a champion or when it cannot
    forecast (a warning: the page is a convenience, the job's outcome stands without it).
    ``held``: models already in memory by version; the champion is loaded only if it is not."""
    if out.champion_after is None:
        return None
    if isinstance(series, SeriesGroup):  # a group's page shows its first member's forecast
        series = series.members[0]
    try:
        model = held.get(out.champion_after) or FittedModel.load(
            api.store().info(out.key, out.champion_after).path
        )
        return forecast_record(series, model.predict(series, levels), out.champion_after)
    except Exception as exc:  # never fail a job over the overview page's chart
        log.warning("%s: no forecast for the overview page (%s)", out.job, exc)
        log.debug("forecast of %s failed:\n%s", out.job, traceback.format_exc())
        return None


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _load_champion(info, job: str) -> FittedModel | None:
    """The champion's model, or None when there is none or it cannot be loaded (then it is replaced)."""
    if info is None:
        return None
    try:
        return FittedModel.load(info.path)
    except ForecasterError as exc:
        log.warning(
            "%s: champion %s cannot be loaded (%s); the challenger replaces it",
            job,
            info.version,
            exc,
        )
        return None


def _decide(
    out: JobOutcome,
    nightly: NightlyConfig,
    st,
    result,
    champion: FittedModel | None,
    series: Series,
) -> None:
    """Score challenger, champion and baselines on the holdout and promote or keep; fills ``out``.

    The challenger must be finite, beat the champion by the margin and, with
    ``require_beat_baseline``, beat the best baseline by the margin too. Without a usable champion
    it is promoted (a series must have a model to serve), and the reason says how it compares.
    """
    if not np.isfinite(result.table.loc["gru", ["mae", "rmse"]].to_numpy(dtype=float)).all():
        out.status = "kept"
        out.reason = "challenger diverged (non-finite validation error); not promoted"
        return
    models = {"challenger": result.model} | ({"champion": champion} if champion is not None else {})
    levels = result.model.config.backtest.levels
    if isinstance(series, SeriesGroup):
        scores, n_origins, per_member = score_group_on_holdout(models, series, nightly, levels)
    else:
        scores, n_origins = score_on_holdout(
            models, series, nightly.holdout_fraction, nightly.max_holdout_origins, levels
        )
        per_member = {}
    metric, margin = nightly.metric, nightly.margin
    out.scores = {f"{name}_{metric}": s[metric] for name, s in scores.items()} | {
        "holdout_origins": n_origins
    }
    if per_member:  # a group: the pooled scores are each member's relative to its naive
        out.scores |= {
            f"{symbol}_{name}_{metric}": s[name][metric]
            for symbol, s in per_member.items()
            for name in ("challenger", "champion")
            if name in s
        }
        metric_text = f"{metric}/naive"
    else:
        metric_text = metric
    chall = scores["challenger"][metric]
    base_name, base = best_baseline(scores, metric)
    out.coverage = {
        name: {k[9:]: _finite(v) for k, v in scores[name].items() if k.startswith("coverage_")}
        for name in ("challenger", "champion", base_name)
        if name in scores
    }
    beats_base = chall < base * (1 - margin)
    versus_base = (
        f"{'beats' if beats_base else 'does not beat'} the best baseline {base_name} "
        f"({metric_text} {chall:.4g} vs {base:.4g}, margin {margin:.0%})"
    )
    worse_members = _members_worse_than_baseline(per_member, metric, margin)
    if not np.isfinite(chall):
        out.status, out.reason = "kept", "challenger produced non-finite forecasts; not promoted"
    elif "champion" not in scores:
        st.promote(
            out.key, out.challenger, reason="no usable champion", expected=out.champion_before
        )
        out.status, out.champion_after = "promoted", out.challenger
        out.reason = "no champion yet" + ("" if beats_base else f"; the challenger {versus_base}")
    elif nightly.require_beat_baseline and not beats_base:
        out.status, out.reason = "kept", f"challenger {versus_base}; not promoted"
    elif nightly.require_beat_baseline and worse_members:
        out.status = "kept"
        out.reason = f"the challenger is worse than a member's own best baseline: {worse_members}"
    else:
        champ = scores["champion"][metric]
        if chall < champ * (1 - margin):
            st.promote(
                out.key,
                out.challenger,
                reason=f"{metric_text} {chall:.4g} < {champ:.4g}",
                expected=out.champion_before,
            )
            out.status, out.champion_after = "promoted", out.challenger
            out.reason = (
                f"challenger {metric_text} {chall:.4g} beats champion {champ:.4g} "
                f"(margin {margin:.0%})"
            )
            if nightly.require_beat_baseline:
                out.reason += f" and {versus_base.replace('beats ', '', 1)}"
        else:
            out.status = "kept"
            out.reason = (
                f"challenger {metric_text} {chall:.4g} does not beat champion {champ:.4g} by "
                f"margin {margin:.0%}"
            )


class SummaryNotWritten(StorageError):
    """The run finished but its summary files could not be written; ``summary`` holds it."""

    def __init__(self, message: str, summary: RunSummary):
        super().__init__(message)
        self.summary = summary


@dataclass
class RunSummary:
    started_at: str
    finished_at: str
    dry_run: bool
    force: bool
    outcomes: list[JobOutcome]
    files: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    """Ctrl+C stopped the run; the jobs it was on are ``interrupted``, later ones ``not run``."""
    warnings: list[str] = field(default_factory=list)
    """Problems that do not fail the run (e.g. the overview page could not be written)."""
    executor: str = "serial"
    """Where the jobs ran: ``serial``, ``process`` or ``ray``, with the workers asked for."""

    @property
    def failed(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.status in ("failed", "locked", "interrupted")]

    @property
    def exit_code(self) -> int:
        """130 interrupted, 1 a job failed, 4 a job was skipped because its lock was held, else 0."""
        if self.interrupted:
            return 130
        if any(o.status in ("failed", "interrupted") for o in self.outcomes):
            return 1
        return 4 if any(o.status == "locked" for o in self.outcomes) else 0

    def error_line(self) -> str:
        """One line for stderr when the run did not go well (what the exit code says)."""
        bad = self.failed
        said = "; ".join(f"{o.job}: {o.status} — {o.reason}" for o in bad)
        where = f" — the run summary is {self.files['text']}" if self.files else ""
        return f"{len(bad)} of {len(self.outcomes)} jobs did not run through ({said}){where}"

    def to_text(self) -> str:
        lines = [
            f"forecaster nightly retrain {self.started_at} .. {self.finished_at}, {self.executor}"
            + ("  (dry run)" if self.dry_run else "")
            + ("  (INTERRUPTED)" if self.interrupted else "")
        ]
        for o in self.outcomes:
            lines.append(f"  {o.job:<16}{o.status:<12}{o.reason}")
            if o.scores:
                lines.append(
                    "  " + " " * 28 + ", ".join(f"{k}={v:.4g}" for k, v in o.scores.items())
                )
            if o.skipped_members:
                lines.append("  " + " " * 28 + "left out tonight: " + "; ".join(o.skipped_members))
            if o.worker:
                lines.append("  " + " " * 28 + f"{o.seconds:.1f} s on {o.worker}")
        lines += [f"warning: {w}" for w in self.warnings]
        ok = len(self.outcomes) - len(self.failed)
        lines.append(
            f"{ok} of {len(self.outcomes)} jobs ok"
            + (f"; FAILED: {', '.join(o.job for o in self.failed)}" if self.failed else "")
        )
        return "\n".join(lines)


def retrain(
    nightly: NightlyConfig,
    *,
    force: bool = False,
    dry_run: bool = False,
    only: list[str] | None = None,
    executor: str | None = None,
    workers: int | None = None,
    address: str | None = None,
) -> RunSummary:
    """Run every job (or those named in ``only``); write the night's summary unless ``dry_run``.

    ``executor``, ``workers`` and ``address`` override the nightly config's (see
    :mod:`forecaster.executors`); every executor runs each job with :func:`run_job`, under the same
    locks and promotion rule. Ctrl+C stops the run: the jobs it was on are ``interrupted``, those
    it had not started ``not run``; the summary is still written and returned with
    ``interrupted`` set. Raises :class:`SummaryNotWritten` (holding the summary) when the summary
    files cannot be written.
    """
    jobs = [j for j in nightly.jobs if not only or j.name in only]
    if only and not jobs:
        raise ConfigError(f"no job named {only} — jobs are: {[j.name for j in nightly.jobs]}")
    plan = executors.Plan(
        executor or nightly.executor,
        workers if workers is not None else nightly.workers,
        address if address is not None else nightly.address,
    )
    if plan.kind == "ray":
        executors.import_ray()  # missing Ray is one line before anything starts

    def started_job(i: int) -> None:
        log.info("job %s: starting", jobs[i].name)

    def finished_job(i: int, ran: executors.Ran) -> None:
        outcome = ran.result if ran.result is not None else ran
        log.info("job %s: %s — %s", jobs[i].name, outcome.status, outcome.reason)

    started = dt.datetime.now(dt.timezone.utc)
    task = functools.partial(_job_task, nightly=nightly, force=force, dry_run=dry_run)
    ran, interrupted = executors.run_all(
        task, jobs, plan, on_start=started_job, on_done=finished_job
    )
    if interrupted:
        log.warning("interrupted; writing the run summary")
    outcomes = [_outcome(job, r, nightly) for job, r in zip(jobs, ran, strict=True)]
    summary = RunSummary(
        started.isoformat(timespec="seconds"),
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        dry_run,
        force,
        outcomes,
        interrupted=interrupted,
        executor=plan.describe(),
    )
    # Every outcome is in: write the night's summary.
    if not dry_run:
        summary.files = _write_summary(summary, started)
        _write_overview(summary)
    return summary


def _job_task(job: JobConfig, *, nightly: NightlyConfig, force: bool, dry_run: bool) -> JobOutcome:
    """One job as every executor runs it, here or in a worker (a picklable module-level function).

    The fault hooks of the tests can be aimed at one job (``FORECASTER_FAULT_JOB``).
    """
    with faults.only_for_job(job.name):
        return run_job(job, nightly, force=force, dry_run=dry_run)


def _outcome(job: JobConfig, ran: executors.Ran, nightly: NightlyConfig) -> JobOutcome:
    """The job's outcome, from its result or from why it has none (lost worker, Ctrl+C)."""
    if ran.result is not None:
        out = ran.result
    elif ran.status == "interrupted":
        out = _interrupted(job, nightly)
    else:
        out = JobOutcome(job=job.name, status=ran.status, reason=ran.reason)
        if ran.status == "failed":  # a worker died: name the series it was on
            with contextlib.suppress(ForecasterError):
                out.key = series_key(job_config(job, nightly).data)
    out.worker = ran.worker or out.worker
    out.seconds = ran.seconds if ran.result is None else out.seconds
    return out


def _write_summary(summary: RunSummary, started: dt.datetime) -> dict[str, str]:
    """Write ``runs/<date>/retrain-<time>-<id>.json`` and ``.txt``; their paths.

    Raises :class:`SummaryNotWritten` when they cannot be written.
    """
    folder = paths().runs / started.strftime("%Y-%m-%d")
    # milliseconds: summaries of runs started in the same second still sort in the order they ran
    stem = f"retrain-{started:%H%M%S}{started.microsecond // 1000:03d}-{secrets.token_hex(2)}"
    files = {"json": str(folder / f"{stem}.json"), "text": str(folder / f"{stem}.txt")}
    try:
        faults.point("retrain.summary")
        _dump(summary, files)
    except OSError as exc:
        raise SummaryNotWritten(
            str(storage_error(exc, "write the run summary", folder)), summary
        ) from exc
    return files


def _dump(summary: RunSummary, files: dict[str, str]) -> None:
    """The summary as JSON (with its file paths and ``ok``) and as text, at ``files``."""
    write_json(files["json"], asdict(summary) | {"files": files, "ok": not summary.failed})
    write_text(files["text"], summary.to_text() + "\n")


def _write_overview(summary: RunSummary) -> None:
    """Rewrite ``reports/index.html`` from the newest run summaries (:mod:`forecaster.overview`).

    A failure never fails the run: it becomes a warning in the summary (rewritten with it).
    """
    try:
        summary.files["overview"] = str(write_overview(paths()))
    except Exception as exc:  # the page is a convenience: the run's result stands
        why = user_facing(exc) or f"{type(exc).__name__}: {exc}"
        summary.warnings.append(f"the overview page was not written: {why}")
        log.warning("%s", summary.warnings[-1])
        log.debug("overview failed:\n%s", traceback.format_exc())
        try:
            _dump(summary, summary.files)
        except OSError:
            log.warning("the run summary could not be updated with that warning")


def _interrupted(job: JobConfig, nightly: NightlyConfig) -> JobOutcome:
    """The outcome of the job Ctrl+C stopped; the champion is whatever the store says now."""
    out = JobOutcome(job=job.name, status="interrupted")
    out.reason = "interrupted (Ctrl+C) during this job; champion_after is what the store holds now"
    try:
        out.key = series_key(job_config(job, nightly).data)
        out.champion_after = api.store().champion(out.key)
    except ForecasterError:  # the summary matters more than this detail
        pass
    return out
