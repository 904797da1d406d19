"""One nightly job from lock to prune: :func:`run_job`, the task every executor runs.

For the job's series:

1. take the job's lock (a second run on the same job waits ``lock_timeout`` seconds, then says so),
   held for the whole job so a job is never trained twice at once;
2. clean up what a killed run left behind; refresh the data incrementally;
3. skip when nothing is new since the champion's data, or since the last attempt (a challenger
   that was kept is not retrained on the same data with the same config), unless forced;
4. train a challenger (from scratch, or warm-started from the champion) and save it;
5. score challenger, champion and baselines on the same most recent holdout
   (:mod:`~forecaster.nightly.holdout`) and decide (:func:`~forecaster.nightly.decide.decide`);
6. promote only if the champion is still the one it was scored against (re-read under the store
   lock: a `forecast models promote` made during training wins, and the summary says so);
7. keep the newest ``keep_versions`` versions (never the champion).

The job lock is separate from the model store's own per-series lock, which every writer (fit,
promote, rollback, prune, recover) takes for short critical sections only. Everything the job
needs comes in as arguments: the data root it works in (:class:`~forecaster.settings.Paths`) and
the fault plan of the tests, which it arms around its work; it never touches ``os.environ``.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from forecaster import api, faults
from forecaster.config import Config
from forecaster.data.group import SeriesGroup
from forecaster.data.group import store_key as series_key
from forecaster.data.series import Series
from forecaster.data.sources import SOURCES
from forecaster.errors import ForecasterError, LockedError, user_facing
from forecaster.faults import NO_FAULTS, FaultPlan
from forecaster.fitted import FittedModel
from forecaster.intervals import observe
from forecaster.io import held_lock, write_json
from forecaster.models import NAME
from forecaster.nightly.config import JobConfig, NightlyConfig, attempt_digest, job_config
from forecaster.nightly.decide import DIVERGED, Decision, decide
from forecaster.nightly.holdout import CHALLENGER, CHAMPION, Holdout, check_unseen, score
from forecaster.nightly.overview import forecast_record
from forecaster.nightly.status import Status
from forecaster.nightly.summary import JobOutcome, outcome_coverage, outcome_scores
from forecaster.registry import ChampionChanged, ModelStore, VersionInfo
from forecaster.settings import Paths, paths

log = logging.getLogger(__name__)
MODEL_ROW = NAME
"""The trained model's row in :attr:`forecaster.api.FitResult.table`."""


@dataclass(frozen=True)
class JobRun:
    """What every step of one job reads: the job, the policy, the job's config, series key and
    attempt digest, the data root and model store it works in, the armed fault plan, and how it
    was asked to run."""

    job: JobConfig
    nightly: NightlyConfig
    cfg: Config
    key: str
    digest: str
    where: Paths
    store: ModelStore
    plan: FaultPlan
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class Trained:
    """Tonight's challenger (saved as ``version``) and the champion it is scored against."""

    fit: api.FitResult
    version: str
    champion: FittedModel | None
    champion_id: str | None


def run_job(
    job: JobConfig,
    nightly: NightlyConfig,
    *,
    where: Paths | None = None,
    force: bool = False,
    dry_run: bool = False,
    fault_plan: FaultPlan = NO_FAULTS,
) -> JobOutcome:
    """Retrain one job under its lock. Raises only for bugs; user-facing problems become the outcome.

    ``where``: the data root (default: the resolved one, :func:`~forecaster.settings.paths`).
    ``fault_plan``: the fault tests' plan, armed for this job (its points and training callbacks).
    """
    out = JobOutcome(job=job.name)
    t0 = time.perf_counter()
    with fault_plan.for_job(job.name).armed() as plan:
        try:
            cfg = job_config(job, nightly)
            out.key = key = series_key(cfg.data)
            root = where or paths()
            digest = attempt_digest(cfg, nightly)
            store = ModelStore(root.models)
            run = JobRun(job, nightly, cfg, key, digest, root, store, plan, force, dry_run)
            with _job_lock(run):
                faults.point("retrain.locked")
                _locked(run, out)
        except ForecasterError as exc:
            out.status = Status.LOCKED if isinstance(exc, LockedError) else Status.FAILED
            out.reason = str(exc)
        # One broken job must not stop the others; the traceback goes to the debug log.
        except Exception as exc:
            mapped = user_facing(exc)  # a bad file or a full disk is not a bug: say it in one line
            out.status = Status.FAILED
            out.reason = " ".join(
                (str(mapped) if mapped else f"{type(exc).__name__}: {exc}").split()
            )
            log.debug("job %s crashed:\n%s", job.name, traceback.format_exc())
    out.seconds = round(time.perf_counter() - t0, 1)
    return out


def _job_lock(run: JobRun) -> contextlib.AbstractContextManager[Any]:
    """The job's own lock, ``locks/<key>.lock`` (LockedError when another run holds it)."""
    lock_path = run.where.locks / f"{run.key}.lock"
    return held_lock(
        lock_path,
        timeout=run.nightly.lock_timeout,
        busy=f"job '{run.job.name}' ({run.key}) is being retrained by another run (lock "
        f"{lock_path}); it was left alone — wait for that run to finish",
        action=f"take the lock of job '{run.job.name}'",
    )


def _locked(run: JobRun, out: JobOutcome) -> None:
    """The job's work under its lock, filling the job's outcome ``out``."""
    champion_id = _recover(run)
    out.champion_before = out.champion_after = champion_id
    faults.point("retrain.data")
    series = _load(run, out)
    champion_info = run.store.info(run.key, champion_id) if champion_id else None
    held: dict[str, FittedModel] = {}
    skip = _no_training(run, series, champion_info)
    if skip is not None:
        out.status, out.reason = skip
    else:
        trained = _train(run, series, champion_info)
        out.challenger = trained.version
        held = {trained.version: trained.fit.model}
        if trained.champion is not None:
            held[champion_id] = trained.champion
        faults.point("retrain.trained")
        _conclude(run, out, trained, series)
    if not run.dry_run:  # under the lock, so the champion stays put
        _observe(run, out.champion_after, series, held)
        out.forecast = _champion_forecast(run, out.champion_after, series, held)


def _observe(
    run: JobRun, champion: str | None, series: Series | SeriesGroup, held: dict[str, FittedModel]
) -> None:
    """Fold the windows observed since the champion's calibration span into its adaptive interval
    state (:func:`~forecaster.intervals.observe`) and save it (``calibration.json``, atomically),
    so ``predict``'s intervals follow the misses of the newest nights. A failure is a warning:
    the intervals then stay as they were."""
    if champion is None:
        return
    try:
        folder = run.store.info(run.key, champion).path
        model = held.get(champion) or FittedModel.load(folder)
        cal = model.calibration
        if cal is None or cal.adaptive is None:
            return  # split-conformal, or saved before adaptive intervals: nothing to track
        members = list(series) if isinstance(series, SeriesGroup) else [series]
        updated = observe(cal, model, members)
        if updated is cal:
            return
        write_json(folder / "calibration.json", updated.to_dict())
        held[champion] = replace(model, calibration=updated)
        log.info("%s: champion %s's intervals observed up to %s", run.key, champion, updated.span)
    except Exception as exc:  # the job's outcome stands without it
        log.warning("%s: the champion's intervals were not updated (%s)", run.job.name, exc)


def _recover(run: JobRun) -> str | None:
    """Clear what an interrupted run left in the store; the champion's version id (or None)."""
    if run.store.recover(run.key):
        log.warning("%s: removed what an interrupted run left behind", run.key)
    champion_id = run.store.champion(run.key)
    if champion_id is None and run.store.version_ids(run.key):
        log.warning(
            "%s: no usable champion (CHAMPION is missing, garbled or names a missing version); "
            "tonight's challenger replaces it if it is finite",
            run.key,
        )
    return champion_id


def _load(run: JobRun, out: JobOutcome) -> Series | SeriesGroup:
    """The job's series (or group: a member that fails to load is reported, the rest train)."""
    if run.cfg.data.group is not None:
        series = api.load_group(run.cfg.data, skip_failed=True)
        out.skipped_members = [f"{symbol}: {why}" for symbol, why in series.skipped]
    else:
        series = api.load_data(run.cfg)
    out.data_end, out.data_source = str(series.end), series.source
    return series


def _no_training(
    run: JobRun, series: Series | SeriesGroup, champion: VersionInfo | None
) -> tuple[Status, str] | None:
    """Why the job does not train tonight, as its status and reason; None when it trains."""
    wanted = run.cfg.data.source
    if _live(wanted) and not _live(series.source):
        if run.nightly.on_unreachable == "skip":
            reason = f"{wanted} unreachable; configured to skip (on_unreachable: skip)"
            return Status.SKIPPED, reason
        log.warning("%s: using %s data (source unreachable)", run.job.name, series.source)
    if not run.force:
        end = _champion_data_end(champion)
        if end is not None and series.end <= end:
            return Status.SKIPPED, f"no new data since the champion's (data up to {end})"
        champion_id = champion.version if champion is not None else None
        if why := _tried_already(run, series, champion_id):
            return Status.SKIPPED, why
    if run.dry_run:
        return Status.WOULD_TRAIN, "new data" if champion is not None else "no champion yet"
    return None


def _live(source: str) -> bool:
    """Whether ``source`` is a network source (its registry entry says so; snapshots are not)."""
    entry = SOURCES.get(source)
    return entry is not None and entry.live


def _champion_data_end(info: VersionInfo | None) -> pd.Timestamp | None:
    end = (info.meta or {}).get("data", {}).get("end") if info is not None else None
    return pd.Timestamp(end) if end else None


def _tried_already(run: JobRun, series: Series | SeriesGroup, champion: str | None) -> str | None:
    """Why training again would repeat the last attempt, or None.

    The last attempt counts when it saw data up to the same end with the same config and policy,
    and the champion is still the one it was scored against (or the challenger it promoted).
    """
    last = run.store.last_event(run.key, "attempt")
    if not last or last.get("config") != run.digest or not last.get("data_end"):
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


def _train(run: JobRun, series: Series | SeriesGroup, champion: VersionInfo | None) -> Trained:
    """Train tonight's challenger (warm-started from the champion if so configured) and save it
    as a new version of the job's store (not promoted)."""
    model = _load_champion(champion, run.job.name)
    init = model if run.cfg.train.warm_start else None
    fit = api.fit(
        run.cfg, series=series, save=False, init_from=init, callbacks=run.plan.callbacks()
    )
    version = run.store.save(run.key, fit.model.save).version
    return Trained(fit, version, model, champion.version if champion is not None else None)


def _load_champion(info: VersionInfo | None, job: str) -> FittedModel | None:
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


def _conclude(run: JobRun, out: JobOutcome, trained: Trained, series: Series | SeriesGroup) -> None:
    """Score and decide, promote if so decided, record the attempt, prune old versions."""
    try:
        decision, holdout = _score_and_decide(run, trained, series)
        out.status, out.reason = decision.status, decision.reason
        if holdout is not None:
            out.scores = outcome_scores(holdout, run.nightly.metric)
            out.coverage = outcome_coverage(holdout, decision.best_baseline)
        _promote(run, out, decision, trained)
        run.store.record(
            run.key,
            "attempt",
            challenger=trained.version,
            status=out.status,
            compared_with=trained.champion_id,
            data_end=str(series.end),
            config=run.digest,
        )
    finally:
        pruned = run.store.prune(run.key, run.nightly.keep_versions)
        if pruned:
            log.info("%s: removed %d old version(s)", run.key, len(pruned))


def _score_and_decide(
    run: JobRun, trained: Trained, series: Series | SeriesGroup
) -> tuple[Decision, Holdout | None]:
    """The decision and the holdout it read (none when the challenger diverged in training)."""
    if not _finite_in_validation(trained.fit):
        return DIVERGED, None
    # Both are scored with the procedure's weights (trained before their own validation rows);
    # the served weights saw the holdout. What is promoted is the challenger's served version.
    models = {CHALLENGER: trained.fit.model.procedure()}
    if trained.champion is not None:
        models[CHAMPION] = trained.champion.procedure()
    nightly = run.nightly
    check_unseen(series, nightly.holdout_fraction, trained.fit.model.meta.splits["val"].end)
    holdout = score(
        models, series, run.cfg.backtest, nightly.holdout_fraction, nightly.max_holdout_origins
    )
    decision = decide(
        holdout.champion,
        holdout.challenger,
        holdout.baselines,
        nightly.rule(),
        members=holdout.member_scores() or None,
    )
    return decision, holdout


def _finite_in_validation(fit: api.FitResult) -> bool:
    """Whether the challenger's validation MAE and RMSE are finite (a diverged fit is not)."""
    row = fit.table.loc[MODEL_ROW, ["mae", "rmse"]]
    return bool(np.isfinite(row.to_numpy(dtype=float)).all())


def _promote(run: JobRun, out: JobOutcome, decision: Decision, trained: Trained) -> None:
    """Make the challenger champion if so decided and the champion is still the one it was
    scored against; a champion switched meanwhile (``forecast models promote``) wins."""
    if not decision.promote:
        return
    try:
        run.store.promote(
            run.key, trained.version, reason=decision.history, expected=trained.champion_id
        )
        out.champion_after = trained.version
    except ChampionChanged as exc:
        out.status, out.champion_after = Status.KEPT, exc.current
        out.reason = (
            f"the champion was switched to {exc.current or 'none'} (by `forecast models` or "
            f"another run) while this job trained; challenger {trained.version} is saved but "
            "not promoted over it — the next run scores against the new champion"
        )


def _champion_forecast(
    run: JobRun,
    champion: str | None,
    series: Series | SeriesGroup,
    held: dict[str, FittedModel],
) -> dict[str, Any] | None:
    """The champion's forecast from ``series`` with the job's interval levels, as plain lists
    (:func:`~forecaster.nightly.overview.forecast_record`); None without a champion or when it
    cannot forecast (a warning: the page is a convenience, the job's outcome stands without it).
    ``held``: models already in memory by version; the champion is loaded only if it is not."""
    if champion is None:
        return None
    if isinstance(series, SeriesGroup):  # a group's page shows its first member's forecast
        series = series.members[0]
    try:
        model = held.get(champion) or FittedModel.load(run.store.info(run.key, champion).path)
        levels = run.cfg.backtest.levels
        return forecast_record(series, model.predict(series, levels), champion)
    except Exception as exc:  # never fail a job over the overview page's chart
        log.warning("%s: no forecast for the overview page (%s)", run.job.name, exc)
        log.debug("forecast of %s failed:\n%s", run.job.name, traceback.format_exc())
        return None
