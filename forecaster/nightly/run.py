"""The night: :func:`retrain` runs the chosen jobs on an executor and writes the run summary.

Each job is one task (:func:`~forecaster.nightly.job.run_job`) for an executor
(:mod:`forecaster.executors`): one after another in this process, in worker processes, or on a Ray
cluster; the job's steps, its locks and the summary are the same whichever runs them. One failing
job (or dead worker) never stops the others; the run's exit code says whether any failed. Ctrl+C
stops the run and the summary is still written (the jobs it did not finish are marked so).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging

from forecaster import executors
from forecaster.data.group import store_key as series_key
from forecaster.errors import ConfigError, ForecasterError
from forecaster.faults import NO_FAULTS, FaultPlan
from forecaster.nightly.config import JobConfig, NightlyConfig, job_config
from forecaster.nightly.job import run_job
from forecaster.nightly.status import Status
from forecaster.nightly.summary import JobOutcome, RunSummary, refresh_overview, write_summary
from forecaster.registry import ModelStore
from forecaster.settings import ENV_HOME, Paths, paths

log = logging.getLogger(__name__)


def retrain(
    nightly: NightlyConfig,
    *,
    where: Paths | None = None,
    force: bool = False,
    dry_run: bool = False,
    only: list[str] | None = None,
    executor: str | None = None,
    workers: int | None = None,
    address: str | None = None,
    fault_plan: FaultPlan = NO_FAULTS,
) -> RunSummary:
    """Run every job (or those named in ``only``); write the night's summary unless ``dry_run``.

    ``where``: the data root the jobs and the summary use (default: the resolved one,
    :func:`~forecaster.settings.paths`). ``executor``, ``workers`` and ``address`` override the
    nightly config's (see :mod:`forecaster.executors`); every executor runs each job with
    :func:`~forecaster.nightly.job.run_job`, under the same locks and promotion rule. Ctrl+C
    stops the run: the jobs it was on are ``interrupted``, those it had not started ``not run``;
    the summary is still written and returned with ``interrupted`` set. ``fault_plan``: the fault
    tests' plan (the CLI reads it from the environment), armed for the run and handed to every
    job. Raises :class:`~forecaster.nightly.summary.SummaryNotWritten` (holding the summary) when
    the summary files cannot be written.
    """
    where = where or paths()
    jobs = _chosen(nightly, only)
    plan = _executor_plan(nightly, executor, workers, address)
    started = dt.datetime.now(dt.timezone.utc)
    task = functools.partial(
        run_job, nightly=nightly, where=where, force=force, dry_run=dry_run, fault_plan=fault_plan
    )
    ran, interrupted = executors.run_all(
        task,
        jobs,
        plan,
        env={ENV_HOME: str(where.root)},  # the data layer's cache in a worker
        on_start=lambda i: log.info("job %s: starting", jobs[i].name),
        on_done=functools.partial(_log_done, jobs),
    )
    if interrupted:
        log.warning("interrupted; writing the run summary")
    summary = RunSummary(
        started.isoformat(timespec="seconds"),
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        dry_run,
        force,
        [_outcome(job, r, nightly, where) for job, r in zip(jobs, ran, strict=True)],
        interrupted=interrupted,
        executor=plan.describe(),
    )
    if not dry_run:  # every outcome is in: write the night's summary
        with fault_plan.armed():
            summary.files = write_summary(summary, started, where)
            refresh_overview(summary, where)
    return summary


def _chosen(nightly: NightlyConfig, only: list[str] | None) -> list[JobConfig]:
    """The jobs to run: all, or those named in ``only`` (a ConfigError names an unknown one)."""
    jobs = [j for j in nightly.jobs if not only or j.name in only]
    if only and not jobs:
        raise ConfigError(f"no job named {only} — jobs are: {[j.name for j in nightly.jobs]}")
    return jobs


def _executor_plan(
    nightly: NightlyConfig, executor: str | None, workers: int | None, address: str | None
) -> executors.Plan:
    """Where the jobs run: the config's executor settings, each overridden when given."""
    plan = executors.Plan(
        executor or nightly.executor,
        workers if workers is not None else nightly.workers,
        address if address is not None else nightly.address,
    )
    if plan.kind == "ray":
        executors.import_ray()  # missing Ray is one line before anything starts
    return plan


def _log_done(jobs: list[JobConfig], i: int, ran: executors.Ran) -> None:
    outcome = ran.result if ran.result is not None else ran
    log.info("job %s: %s — %s", jobs[i].name, outcome.status, outcome.reason)


def _outcome(
    job: JobConfig, ran: executors.Ran, nightly: NightlyConfig, where: Paths
) -> JobOutcome:
    """The job's outcome, from its result or from why it has none (lost worker, Ctrl+C)."""
    if ran.result is not None:
        out = ran.result
    elif ran.status == "interrupted":
        out = _interrupted(job, nightly, where)
    else:
        out = JobOutcome(job=job.name, status=Status(ran.status), reason=ran.reason)
        if ran.status == "failed":  # a worker died: name the series it was on
            with contextlib.suppress(ForecasterError):
                out.key = series_key(job_config(job, nightly).data)
    out.worker = ran.worker or out.worker
    out.seconds = ran.seconds if ran.result is None else out.seconds
    return out


def _interrupted(job: JobConfig, nightly: NightlyConfig, where: Paths) -> JobOutcome:
    """The outcome of the job Ctrl+C stopped; the champion is whatever the store says now."""
    out = JobOutcome(job=job.name, status=Status.INTERRUPTED)
    out.reason = "interrupted (Ctrl+C) during this job; champion_after is what the store holds now"
    try:
        out.key = series_key(job_config(job, nightly).data)
        out.champion_after = ModelStore(where.models).champion(out.key)
    except ForecasterError:  # the summary matters more than this detail
        pass
    return out
