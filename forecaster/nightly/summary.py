"""The night's records: each job's :class:`JobOutcome`, the :class:`RunSummary`, and writing them to ``runs/``.

Each night writes ``runs/<date>/retrain-<time>-<id>.json`` and a short ``.txt`` report under the
data root (the id keeps two runs started in the same second from overwriting each other's
summary), also when the run is interrupted with Ctrl+C, then rewrites the overview page
(:mod:`forecaster.nightly.overview`) from the newest summaries.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import secrets
import traceback
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from forecaster import faults
from forecaster.backtest.pooling import Metric
from forecaster.errors import StorageError, storage_error, user_facing
from forecaster.intervals import level_name
from forecaster.io import write_json, write_text
from forecaster.nightly.holdout import CHALLENGER, CHAMPION
from forecaster.nightly.overview import write_overview
from forecaster.nightly.status import NOT_THROUGH, Status
from forecaster.settings import Paths

if TYPE_CHECKING:
    from forecaster.nightly.holdout import Holdout

log = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    """What happened to one job tonight (one entry of the run summary's ``outcomes``)."""

    job: str
    key: str = ""
    status: Status = Status.FAILED
    reason: str = ""
    champion_before: str | None = None
    champion_after: str | None = None
    challenger: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    """Holdout errors by ``<method>_<metric>`` (a group's pooled, relative to naive, and each
    member's models' as ``<symbol>_<method>_<metric>``), and ``holdout_origins``."""
    data_end: str | None = None
    data_source: str | None = None
    seconds: float = 0.0
    coverage: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Holdout interval coverage (%) of challenger, champion and the best baseline, per level
    (``{"challenger": {"80": 79.5, "95": 94.1}}``); the nightly overview page shows it."""
    forecast: dict[str, Any] | None = None
    """The champion's forecast from the newest data with its intervals, as plain lists
    (:func:`forecaster.nightly.overview.forecast_record`); None without a champion."""
    skipped_members: list[str] = field(default_factory=list)
    """A group job's members that could not be loaded tonight, with why (the rest trained)."""
    worker: str = ""
    """Where the job ran: host and pid (and the Ray node and worker ids on Ray)."""


def outcome_scores(holdout: Holdout, metric: Metric) -> dict[str, float]:
    """The summary's ``scores`` of a holdout (see :attr:`JobOutcome.scores`)."""
    scores = {f"{name}_{metric}": s.error(metric) for name, s in holdout.scores.items()}
    scores["holdout_origins"] = holdout.origins
    for symbol, own in holdout.members.items():
        scores |= {
            f"{symbol}_{name}_{metric}": own[name].error(metric)
            for name in (CHALLENGER, CHAMPION)
            if name in own
        }
    return scores


def outcome_coverage(holdout: Holdout, best: str | None) -> dict[str, dict[str, float | None]]:
    """The summary's ``coverage``: challenger, champion and the best baseline ``best``, by level
    name (``"80"``); a coverage that is not finite is None (JSON has no NaN)."""
    return {
        name: {
            level_name(lv): v if math.isfinite(v) else None
            for lv, v in holdout.scores[name].coverage.items()
        }
        for name in (CHALLENGER, CHAMPION, best)
        if name in holdout.scores
    }


class SummaryNotWritten(StorageError):
    """The run finished but its summary files could not be written; ``summary`` holds it."""

    def __init__(self, message: str, summary: RunSummary):
        super().__init__(message)
        self.summary = summary


@dataclass
class RunSummary:
    """One night: when it ran, how, and every job's outcome in the config's order."""

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
        return [o for o in self.outcomes if o.status in NOT_THROUGH]

    @property
    def exit_code(self) -> int:
        """130 interrupted, 1 a job failed, 4 a job was skipped because its lock was held, else 0."""
        if self.interrupted:
            return 130
        if any(o.status in (Status.FAILED, Status.INTERRUPTED) for o in self.outcomes):
            return 1
        return 4 if any(o.status == Status.LOCKED for o in self.outcomes) else 0

    def error_line(self) -> str:
        """One line for stderr when the run did not go well (what the exit code says)."""
        bad = self.failed
        said = "; ".join(f"{o.job}: {o.status} — {o.reason}" for o in bad)
        where = f" — the run summary is {self.files['text']}" if self.files else ""
        return f"{len(bad)} of {len(self.outcomes)} jobs did not run through ({said}){where}"

    def to_text(self) -> str:
        """The ``.txt`` report: a header, each job's status, reason, scores and worker, the total."""
        lines = [
            f"forecaster nightly retrain {self.started_at} .. {self.finished_at}, {self.executor}"
            + ("  (dry run)" if self.dry_run else "")
            + ("  (INTERRUPTED)" if self.interrupted else "")
        ]
        indent = "  " + " " * 28
        for o in self.outcomes:
            lines.append(f"  {o.job:<16}{o.status:<12}{o.reason}")
            if o.scores:
                lines.append(indent + ", ".join(f"{k}={v:.4g}" for k, v in o.scores.items()))
            if o.skipped_members:
                lines.append(indent + "left out tonight: " + "; ".join(o.skipped_members))
            if o.worker:
                lines.append(indent + f"{o.seconds:.1f} s on {o.worker}")
        lines += [f"warning: {w}" for w in self.warnings]
        ok = len(self.outcomes) - len(self.failed)
        lines.append(
            f"{ok} of {len(self.outcomes)} jobs ok"
            + (f"; FAILED: {', '.join(o.job for o in self.failed)}" if self.failed else "")
        )
        return "\n".join(lines)


def write_summary(summary: RunSummary, started: dt.datetime, where: Paths) -> dict[str, str]:
    """Write ``runs/<date>/retrain-<time>-<id>.json`` and ``.txt`` under ``where``; their paths.

    Raises :class:`SummaryNotWritten` when they cannot be written.
    """
    folder = where.runs / started.strftime("%Y-%m-%d")
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


def refresh_overview(summary: RunSummary, where: Paths) -> None:
    """Rewrite ``reports/index.html`` from the newest run summaries under ``where``.

    A failure never fails the run: it becomes a warning in the summary (rewritten with it).
    """
    try:
        summary.files["overview"] = str(write_overview(where))
    except Exception as exc:  # the page is a convenience: the run's result stands
        why = user_facing(exc) or f"{type(exc).__name__}: {exc}"
        summary.warnings.append(f"the overview page was not written: {why}")
        log.warning("%s", summary.warnings[-1])
        log.debug("overview failed:\n%s", traceback.format_exc())
        try:
            _dump(summary, summary.files)
        except OSError:
            log.warning("the run summary could not be updated with that warning")
