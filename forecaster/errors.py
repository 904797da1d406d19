"""User-facing errors.

Every problem a user can fix (bad input, missing data, unreachable source, bad config) is raised as a
:class:`ForecasterError` whose message is one line: what is wrong and what to do about it. The CLI prints
that line and exits non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ForecasterError(Exception):
    """A problem the user can act on. ``str(exc)`` is a single line naming the problem and the fix."""

    exit_code = 2


class ConfigError(ForecasterError):
    """An invalid configuration file, key or value."""


class DataError(ForecasterError):
    """A series that cannot be used as given: empty, gappy, non-numeric, too short, corrupt."""


class SourceError(ForecasterError):
    """A data source refused the request (unknown ticker, bad coordinates, API error body)."""


class SourceUnavailable(SourceError):
    """A data source could not be reached (network down, timeouts, rate limits) after retries."""

    exit_code = 3


class ModelError(ForecasterError):
    """A missing, incompatible or corrupt saved model."""


class LockedError(ForecasterError):
    """Another run holds the lock for the same job."""

    exit_code = 4
