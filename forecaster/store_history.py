"""A series' ``history.jsonl`` in the model store: reading, appending, and the champion stack.

One JSON object a line: promotions, rollbacks and nightly attempts. Lines torn by a crash are
skipped when read and never glued to when appended; the writer holds the series' store lock.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from forecaster.errors import storage_error
from forecaster.io import fsync_dir

log = logging.getLogger(__name__)


def read_history(path: Path, key: str) -> list[dict[str, Any]]:
    """Every readable entry of ``path``, oldest first (torn or garbled lines are skipped)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise storage_error(exc, f"read the history of {key}", path) from exc
    out, bad = [], 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line.decode("utf-8"))
        except ValueError:  # a torn line from a crash, or garbage (UnicodeDecodeError too)
            bad += 1
            continue
        if isinstance(entry, dict):
            out.append(entry)
        else:
            bad += 1
    if bad:  # debug: a torn line from a crash stays in the file, and is expected
        log.debug("%s: skipped %d unreadable line(s) of %s", key, bad, path)
    return out


def append_history(path: Path, entry: dict[str, Any]) -> None:
    """Append one line (stamped ``at``, UTC); a torn last line is ended first, never glued to."""
    entry = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **entry}
    created = not path.exists()
    with open(path, "a+b") as fh:
        fh.seek(0, os.SEEK_END)
        prefix = b""
        if fh.tell() > 0:
            fh.seek(-1, os.SEEK_END)
            prefix = b"" if fh.read(1) == b"\n" else b"\n"
        fh.write(prefix + json.dumps(entry, default=str).encode("utf-8") + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    if created:
        fsync_dir(path.parent)


def champion_stack(history: list[dict[str, Any]]) -> list[str]:
    """The champions in order, as promotions pushed and rollbacks popped them."""
    stack: list[str] = []
    for entry in history:
        version = entry.get("version")
        if not isinstance(version, str):
            continue
        if entry.get("event") == "promote":
            stack.append(version)
        elif entry.get("event") == "rollback":
            while stack and stack[-1] != version:
                stack.pop()
            if not stack:
                stack.append(version)
    return stack
