"""The statuses a nightly job ends in, as one enum (its values are what run summaries hold)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """How one job ended tonight. A ``str``: the values are written to and read from run summaries
    unchanged (``"promoted"``), and compare equal to those strings."""

    PROMOTED = "promoted"
    """A challenger was trained, scored and made champion."""
    KEPT = "kept"
    """A challenger was trained and scored; the champion stays."""
    SKIPPED = "skipped"
    """Nothing to do (no new data, the same attempt again, or the source unreachable)."""
    WOULD_TRAIN = "would-train"
    """A dry run that would have trained."""
    FAILED = "failed"
    LOCKED = "locked"
    """Another run held the job's lock: the job was left alone."""
    INTERRUPTED = "interrupted"
    """Ctrl+C stopped the run while it was on this job."""
    NOT_RUN = "not run"
    """Ctrl+C stopped the run before it started this job."""


DECISIONS = (Status.PROMOTED, Status.KEPT)
"""The statuses of a job that scored a challenger and decided."""
NOT_THROUGH = (Status.FAILED, Status.LOCKED, Status.INTERRUPTED)
"""The statuses of a job that did not run through (the run reports it as failed)."""
