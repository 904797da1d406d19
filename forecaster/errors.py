"""User-facing errors.

Every problem a user can fix (bad input, missing data, unreachable source, bad config) is raised as a
:class:`ForecasterError` whose message is one line: what is wrong and what to do about it. The CLI prints
that line and exits non-zero; anything else is a bug and keeps its traceback.

Exit codes: 2 bad input or config (and unusable data or models), 3 a source unreachable, 4 a lock
held by another run, 5 a file that cannot be written or read (permissions, disk full), 1 a
nightly job failed, 130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import errno


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


class StorageError(ForecasterError):
    """A file under the data root (or an output folder) cannot be written or read: permissions, a
    read-only or full disk. The message names the path and the fix."""

    exit_code = 5


_FIXES = {
    errno.EACCES: "make it writable for this user, or choose another data root with --data-root",
    errno.EPERM: "make it writable for this user, or choose another data root with --data-root",
    errno.EROFS: "choose a data root on a writable disk with --data-root",
    errno.ENOSPC: "free some disk space (e.g. old reports) and run again",
    errno.EDQUOT: "free some space within the disk quota and run again",
    errno.ENAMETOOLONG: "the name is too long for the file system — use a shorter name",
}


def storage_error(exc: OSError, action: str, path: object = None) -> StorageError:
    """A one-line :class:`StorageError` for ``exc``: ``cannot <action> (<path>: <reason>) — <fix>``."""
    where = exc.filename if exc.filename is not None else path
    reason = exc.strerror or str(exc) or type(exc).__name__
    fix = _FIXES.get(exc.errno, "check that the folder exists and is writable, then run again")
    return StorageError(f"cannot {action} ({where}: {reason}) — {fix}")


def user_facing(exc: BaseException) -> ForecasterError | None:
    """A one-line error for exceptions that mean a bad file or environment, not a bug; else None.

    The last resort of the CLI and the nightly job for what the code did not anticipate: OSError
    (permissions, disk full, name too long), text that is not UTF-8, unparsable CSV/Parquet files,
    unknown time zones. Callers keep the traceback for ``-v``.
    """
    if isinstance(exc, ForecasterError):
        return exc
    names = {f"{c.__module__}.{c.__name__}" for c in type(exc).__mro__}
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if "requests.exceptions.RequestException" in names:  # an OSError too, but not about files
        return SourceUnavailable(
            f"the data source's answer broke off ({type(exc).__name__}: {first}) — try again "
            "later, or use --offline for cached or bundled data"
        )
    if isinstance(exc, OSError):
        return storage_error(exc, "read or write a file")
    if isinstance(exc, UnicodeDecodeError):
        return DataError(
            f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}) — save it as UTF-8, or "
            "check that the path names the file you meant (-v shows where it was read)"
        )
    if names & _PARSE_ERRORS:
        return DataError(f"cannot parse the file ({first}) — check its format and contents")
    if names & _TZ_ERRORS:
        return ConfigError(
            f"unknown time zone ({first}) — use an IANA name such as Europe/Berlin or UTC"
        )
    return None


_PARSE_ERRORS = {
    "pandas.errors.ParserError",
    "pandas.errors.EmptyDataError",
    "pyarrow.lib.ArrowException",
}
_TZ_ERRORS = {"zoneinfo._common.ZoneInfoNotFoundError", "pytz.exceptions.UnknownTimeZoneError"}
