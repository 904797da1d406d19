"""Where models live on disk: versions, the champion per series, atomic switches.

Layout under the data root::

    models/<series key>/
        versions/<version>/      one trained model: model.pt (state_dict), config.yaml,
                                 normalization.json, meta.json (fingerprint, span, metrics, versions)
        CHAMPION                 the champion's version id (one line, replaced atomically)
        history.jsonl            every promotion and rollback, one JSON object per line

A version is written into a hidden temporary folder and renamed into ``versions/`` when complete,
so a crash or ``kill -9`` mid-write never leaves half a model where a loader would find it; the
leftover temporary folder is removed by the next run (:meth:`ModelStore.recover`). The champion
pointer is switched with an atomic rename, so the last good model survives every failure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecaster.errors import ModelError
from forecaster.io import write_text

_TMP_PREFIX = ".partial-"


@dataclass(frozen=True)
class VersionInfo:
    """One saved model version and what its meta.json says about it."""

    key: str
    version: str
    path: Path
    meta: dict[str, Any]
    is_champion: bool = False

    @property
    def created_at(self) -> str:
        return str(self.meta.get("created_at", ""))

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.meta.get("metrics", {}))


def new_version_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique version id: UTC time to the second plus 4 random hex digits."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


class ModelStore:
    """Versioned models per series key, with a champion pointer. ``root`` is ``paths().models``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # -- layout ----------------------------------------------------------------------------------
    def series_dir(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise ModelError(f"invalid series key {key!r}")
        return self.root / key

    def _versions_dir(self, key: str) -> Path:
        return self.series_dir(key) / "versions"

    def keys(self) -> list[str]:
        """Series keys that have at least one saved version."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if (p / "versions").is_dir() and self.versions(p.name)
        )

    # -- writing ---------------------------------------------------------------------------------
    def save(
        self, key: str, write: Callable[[Path], None], *, version: str | None = None
    ) -> VersionInfo:
        """Create a new version: ``write(folder)`` fills a temporary folder, which is then renamed in.

        If ``write`` raises (or the process dies), no version appears and the champion is untouched.
        """
        version = version or new_version_id()
        vdir = self._versions_dir(key)
        vdir.mkdir(parents=True, exist_ok=True)
        tmp = vdir / f"{_TMP_PREFIX}{version}"
        tmp.mkdir()
        try:
            write(tmp)
            if not (tmp / "model.pt").is_file():
                raise ModelError(f"model version {version} was written without model.pt")
            _fsync_dir(tmp)
            os.replace(tmp, vdir / version)
            _fsync_dir(vdir)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return self.info(key, version)

    def recover(self, key: str | None = None) -> list[Path]:
        """Remove half-written versions left by a crashed run; returns what was removed."""
        removed = []
        keys = [key] if key else [p.name for p in self.root.iterdir()] if self.root.is_dir() else []
        for k in keys:
            vdir = self.root / k / "versions"
            if not vdir.is_dir():
                continue
            for leftover in vdir.glob(f"{_TMP_PREFIX}*"):
                shutil.rmtree(leftover, ignore_errors=True)
                removed.append(leftover)
            for stray in (self.root / k).glob(".CHAMPION.*.tmp"):
                stray.unlink(missing_ok=True)
                removed.append(stray)
        return removed

    # -- reading ---------------------------------------------------------------------------------
    def info(self, key: str, version: str) -> VersionInfo:
        path = self._versions_dir(key) / version
        if not path.is_dir():
            raise ModelError(f"no model version '{version}' for {key} — see `forecast models list`")
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {"error": "meta.json missing or unreadable"}
        return VersionInfo(key, version, path, meta, is_champion=(version == self.champion(key)))

    def versions(self, key: str) -> list[VersionInfo]:
        """All complete versions of a series, oldest first."""
        vdir = self._versions_dir(key)
        if not vdir.is_dir():
            return []
        names = sorted(p.name for p in vdir.iterdir() if p.is_dir() and not p.name.startswith("."))
        return [self.info(key, n) for n in names]

    def latest(self, key: str) -> VersionInfo | None:
        versions = self.versions(key)
        return versions[-1] if versions else None

    def champion(self, key: str) -> str | None:
        """The champion's version id, or None when the series has none (or it has vanished)."""
        pointer = self.series_dir(key) / "CHAMPION"
        try:
            version = pointer.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return version if version and (self._versions_dir(key) / version).is_dir() else None

    def resolve(self, key: str, ref: str = "champion") -> VersionInfo:
        """A version from ``champion``, ``latest``, a version id, or a path to a model folder."""
        path = Path(ref)
        if ref not in ("champion", "latest") and (path / "model.pt").is_file():
            meta_path = path / "meta.json"
            meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
            return VersionInfo(key, path.name, path, meta)
        if ref == "champion":
            version = self.champion(key) or (self.latest(key).version if self.latest(key) else None)
        elif ref == "latest":
            version = self.latest(key).version if self.latest(key) else None
        else:
            version = ref
        if version is None:
            raise ModelError(f"no saved model for {key} — train one first with `forecast fit`")
        return self.info(key, version)

    # -- champion --------------------------------------------------------------------------------
    def promote(self, key: str, version: str, reason: str = "") -> None:
        """Make ``version`` the champion (atomic pointer switch) and log it."""
        self.info(key, version)  # raises if absent
        previous = self.champion(key)
        write_text(self.series_dir(key) / "CHAMPION", version + "\n")
        self._log(
            key, {"event": "promote", "version": version, "previous": previous, "reason": reason}
        )

    def rollback(self, key: str) -> str:
        """Return to the champion before the current one; returns the version now champion.

        Promotions push onto a stack of champions and rollbacks pop it, so repeated rollbacks walk
        further back in time (skipping versions that have since been pruned).
        """
        stack: list[str] = []
        for entry in self.history(key):
            if entry.get("event") == "promote":
                stack.append(entry["version"])
            elif entry.get("event") == "rollback" and stack:
                stack.pop()
        current = self.champion(key)
        if stack and stack[-1] == current:
            stack.pop()
        while stack:
            previous = stack[-1]
            if (self._versions_dir(key) / previous).is_dir():
                write_text(self.series_dir(key) / "CHAMPION", previous + "\n")
                self._log(key, {"event": "rollback", "version": previous, "previous": current})
                return previous
            stack.pop()
        raise ModelError(
            f"{key}: no earlier champion to roll back to — use `forecast models promote`"
        )

    def history(self, key: str) -> list[dict[str, Any]]:
        path = self.series_dir(key) / "history.jsonl"
        if not path.is_file():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a torn last line from a crash is skipped, not fatal
        return out

    def _log(self, key: str, entry: dict[str, Any]) -> None:
        entry = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **entry}
        with open(self.series_dir(key) / "history.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    # -- housekeeping ----------------------------------------------------------------------------
    def prune(self, key: str, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions; the champion is always kept."""
        champion = self.champion(key)
        versions = [v.version for v in self.versions(key)]
        doomed = [v for v in versions[: max(len(versions) - keep, 0)] if v != champion]
        for v in doomed:
            shutil.rmtree(self._versions_dir(key) / v, ignore_errors=True)
        return doomed


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
