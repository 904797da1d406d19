"""Bounded retries for network sources, and a hard wall-clock limit for calls that may hang.

A fetch attempt raises :class:`Transient` for a failure worth retrying (connection refused, DNS,
timeout, HTTP 5xx/429, rate limits); anything else propagates at once. :func:`retry` tries at most
``tries`` times, sleeping 1 s, 2 s, 4 s ... between attempts, and never starts an attempt that
would end after ``budget`` seconds; then it raises :class:`Unreachable` (a ``SourceUnavailable``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from forecaster.errors import SourceUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

TRIES = 3
BASE_DELAY_S = 1.0
PER_TRY_TIMEOUT_S = 10.0
"""Longest wait for one attempt (connect + read), seconds."""
BUDGET_S = 15.0
"""Longest time all attempts and back-off sleeps together may take, seconds."""


class Transient(Exception):
    """An attempt failed in a way worth retrying; ``str(exc)`` is the short reason."""


class Unreachable(SourceUnavailable):
    """A source stayed unreachable after the retries. ``what``: its name; ``reason``: the last failure."""

    def __init__(self, what: str, reason: str, tries: int):
        self.what, self.reason, self.tries = what, reason, tries
        plural = "try" if tries == 1 else "tries"
        super().__init__(
            f"{what} unreachable ({reason}) after {tries} {plural} — check the network connection, "
            "or use --offline to work from cached or bundled data"
        )


def sleep(seconds: float) -> None:
    """The back-off sleep; tests replace it (``monkeypatch.setattr(http, "sleep", ...)``)."""
    time.sleep(seconds)


def short_reason(exc: BaseException) -> str:
    """``"ExcType: first line of the message"``, without library boilerplate, at most ~120 chars."""
    text = _message(_root_cause(exc))
    # curl: "Failed to perform, curl: (6) Could not resolve host: x. See https://curl.se/..."
    text = re.sub(r"\s*See https?://\S+.*$", "", text)
    text = re.sub(r"^Failed to perform, curl: \(\d+\)\s*", "", text)
    # urllib3: "<...HTTPSConnection object at 0x7f..>: ...", "HTTPSConnectionPool(host=..): ..."
    text = re.sub(r"^<[^>]* object at 0x[0-9a-fA-F]+>:\s*", "", text)
    text = re.sub(r"^\w*Connection(Pool)?\([^)]*\):\s*", "", text)
    text = re.sub(r"\s*\((read|connect) timeout=[^)]*\)?\.*$", "", text)
    if isinstance(exc, Transient):  # already a reason in words
        out = text or "failed"
    elif text:
        out = f"{type(exc).__name__}: {text}"  # the outer type: ConnectionError, DNSError, ...
    else:
        out = type(exc).__name__
    return out if len(out) <= 120 else out[:117] + "..."


def _root_cause(exc: BaseException) -> BaseException:
    """The informative error inside a requests ConnectionError (urllib3's MaxRetryError.reason)."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    reason = getattr(inner, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    return inner or exc


def _message(exc: BaseException) -> str:
    """The first line of an exception's message; for urllib3's ``(connection, "message")`` the message."""
    if len(exc.args) == 2 and isinstance(exc.args[1], str) and not isinstance(exc.args[0], str):
        text = exc.args[1]
    else:
        text = str(exc)
    text = text.strip()
    return text.splitlines()[0] if text else ""


def retry(
    attempt: Callable[[float], T],
    *,
    what: str,
    tries: int = TRIES,
    base_delay: float = BASE_DELAY_S,
    per_try: float = PER_TRY_TIMEOUT_S,
    budget: float = BUDGET_S,
    sleep_fn: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``attempt(timeout_s)`` until it returns; retry :class:`Transient` failures with back-off.

    ``timeout_s`` is what the attempt may spend (at most ``per_try``, less when the budget runs
    out). Raises :class:`Unreachable` naming ``what`` and the last reason when all tries fail.
    """
    pause = sleep_fn or sleep
    t0 = clock()
    reason, done = "", 0
    for i in range(tries):
        remaining = budget - (clock() - t0)
        done += 1
        try:
            return attempt(max(1.0, min(per_try, remaining)))
        except Transient as exc:
            reason = short_reason(exc)
            log.debug("%s: attempt %d/%d failed: %s", what, i + 1, tries, reason)
        delay = base_delay * 2**i
        # Start another attempt only if it still gets at least a second before the budget ends.
        if i + 1 == tries or budget - (clock() - t0) - delay < 1.0:
            break
        pause(delay)
    raise Unreachable(what, reason, done)


def call_with_deadline(fn: Callable[[], T], timeout: float, *, what: str = "call") -> T:
    """Run ``fn()`` in a daemon thread and wait at most ``timeout`` seconds for it.

    For libraries whose own timeouts do not cover every request they make (yfinance's cookie and
    time-zone look-ups): a call still running at the deadline raises :class:`Transient` and is
    abandoned (a daemon thread never keeps the program from exiting).
    """
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"forecaster-{what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise Transient(f"no answer within {timeout:.0f} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
