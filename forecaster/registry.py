"""Where models live on disk: versions, the champion per series, atomic switches, one lock.

Layout under the data root::

    models/<series key>/
        versions/<version>/      one trained model: model.pt (state_dict), config.yaml,
                                 normalization.json, meta.json (fingerprint, span, metrics, versions)
        CHAMPION                 the champion's version id (one line, replaced atomically)
        history.jsonl            promotions, rollbacks and nightly attempts, one JSON object a line
        .lock                    the series' store lock (see below)

**Writers and the lock.** Every change to a series (a new version, promote, rollback, prune,
recover, a nightly attempt) happens under that series' store lock, held only for the short critical
section (a rename, a pointer switch, a history line), never while a model trains. A held lock is
waited for ``lock_timeout`` seconds, then a :class:`~forecaster.errors.LockedError` (exit 4).

**Crash safety.** A version is written into ``versions/.partial-<version>`` while its writer holds
``.partial-<version>.lock`` (an OS lock, released when the process dies), then renamed into place
under the store lock when it is complete (model.pt, config.yaml and meta.json). :meth:`recover`
removes only partial folders whose writer lock is free, so it never touches a version that another
run is still writing. Pruning renames a version to ``.trash-<version>-<hex>`` before deleting it,
so a kill mid-delete never leaves half a version under a real name. A promotion is logged before
the pointer switches, and :meth:`rollback` works from the current champion's place in that log, so
a kill between the two never makes the next rollback go forward. Folders are fsynced after renames.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from forecaster import faults
from forecaster.errors import ModelError, storage_error
from forecaster.io import fsync_dir, held_lock, write_text

log = logging.getLogger(__name__)

_PARTIAL = ".partial-"
_TRASH = ".trash-"
VERSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""What a version id may look like (``new_version_id`` makes ``20261123T190000123Z-ab12``): no dots,
no slashes, so an id can never name a folder outside ``versions/``."""
LOCK_TIMEOUT = 30.0
"""Seconds a writer waits for a series' store lock (held only for renames and small writes)."""
REQUIRED_FILES = ("model.pt", "config.yaml", "meta.json")
"""A version folder without all of these is incomplete: never listed, promoted or rolled back to."""
_ANY = object()


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


class ChampionChanged(ModelError):
    """The champion is no longer the one a promotion expected (someone else switched it)."""

    def __init__(self, key: str, expected: str | None, current: str | None):
        self.expected, self.current = expected, current
        super().__init__(
            f"{key}: the champion changed from {expected or 'none'} to {current or 'none'} "
            "while this run worked; it was left as it is"
        )


def new_version_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique version id: UTC time to the millisecond plus 4 random hex digits
    (``20261123T190000123Z-ab12``). Milliseconds keep versions saved in the same second in the
    order they were made, which ``prune`` relies on to keep the newest."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(2)}"


def check_version_id(version: str, key: str = "") -> str:
    """``version`` if it is a valid id, else a one-line ModelError."""
    if not isinstance(version, str) or not VERSION_ID.fullmatch(version):
        where = f" of {key}" if key else ""
        raise ModelError(
            f"{version!r} is not a model version id{where} — ids look like 20261123T190000Z-ab12; "
            f"see `forecast models list{(' ' + key) if key else ''}`"
        )
    return version


@contextlib.contextmanager
def _storage(action: str, path: Path) -> Iterator[None]:
    """OSError (permissions, disk full, read-only) -> a one-line StorageError naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise storage_error(exc, action, path) from exc


@contextlib.contextmanager
def _writer_lock(path: Path) -> Iterator[None]:
    """Hold the writer lock of a partial version: an OS lock the kernel frees when its holder
    dies, so it is free only when nobody is writing that version. The lock file is removed when
    the block ends. Raises :class:`filelock.Timeout` at once when a live process holds it."""
    owner = FileLock(str(path), timeout=0)
    owner.acquire()
    try:
        yield
    finally:
        owner.release()
        path.unlink(missing_ok=True)


class ModelStore:
    """Versioned models per series key, with a champion pointer. ``root`` is ``paths().models``.

    ``lock_timeout``: seconds to wait for a series' store lock held by another process
    (default :data:`LOCK_TIMEOUT`).
    """

    def __init__(self, root: Path, *, lock_timeout: float | None = None):
        self.root = Path(root)
        self.lock_timeout = LOCK_TIMEOUT if lock_timeout is None else lock_timeout

    # -- layout ----------------------------------------------------------------------------------
    def series_dir(self, key: str) -> Path:
        if (
            not key
            or not isinstance(key, str)
            or key.startswith(".")
            or any(c in key for c in "/\\\0")
            or len(key) > 200
        ):
            raise ModelError(f"invalid series key {key!r} — see `forecast models list`")
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
            if not p.name.startswith(".") and self.version_ids(p.name)
        )

    # -- the lock ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the series' store lock (re-entrant within this process)."""
        path = self.series_dir(key) / ".lock"
        with held_lock(
            path,
            timeout=self.lock_timeout,
            busy=f"the model store of {key} is locked by another process ({path}) — wait for "
            "it to finish (a nightly retrain, fit or `forecast models ...`) and run again",
            action=f"create the model store's lock for {key}",
            singleton=True,
        ):
            yield

    # -- writing ---------------------------------------------------------------------------------
    def save(
        self, key: str, write: Callable[[Path], None], *, version: str | None = None
    ) -> VersionInfo:
        """Create a new version: ``write(folder)`` fills a temporary folder, which is then renamed in.

        The folder is written without the store lock (only its own writer lock, so a concurrent
        :meth:`recover` leaves it alone); the rename happens under the store lock. If ``write``
        raises (or the process dies), no version appears and the champion is untouched.
        """
        version = check_version_id(version or new_version_id(), key)
        vdir = self._versions_dir(key)
        tmp = vdir / f"{_PARTIAL}{version}"
        final = vdir / version
        with _storage(f"save model version {version} of {key}", final):
            vdir.mkdir(parents=True, exist_ok=True)
            with _writer_lock(vdir / f"{tmp.name}.lock"):
                tmp.mkdir()
                try:
                    write(tmp)
                    missing = [f for f in REQUIRED_FILES if not (tmp / f).is_file()]
                    if missing:
                        raise ModelError(
                            f"model version {version} was written without {', '.join(missing)}"
                        )
                    fsync_dir(tmp)
                    faults.point("store.save.written")
                    with self.lock(key):
                        os.replace(tmp, final)
                        fsync_dir(vdir)
                    faults.point("store.save.renamed")
                finally:
                    if tmp.exists():
                        shutil.rmtree(tmp, ignore_errors=True)
        return self.info(key, version)

    def recover(self, key: str | None = None) -> list[Path]:
        """Remove what crashed writers left behind; returns what was removed.

        Trash from an interrupted prune and stray temporary files always go. A partial version goes
        only when its writer lock is free, i.e. the process that was writing it is gone.
        """
        keys = [key] if key else self.keys_on_disk()
        removed: list[Path] = []
        for k in keys:
            sdir = self.series_dir(k)
            if not sdir.is_dir():
                continue
            with self.lock(k), _storage(f"clean up the model store of {k}", sdir):
                removed += self._recover_locked(k)
        return removed

    def keys_on_disk(self) -> list[str]:
        """Every series folder, with or without versions."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name[0] != ".")

    def _recover_locked(self, key: str) -> list[Path]:
        removed = []
        sdir, vdir = self.series_dir(key), self._versions_dir(key)
        # Every file in the series folder is written under the store lock: a temp file is dead.
        for stray in sdir.glob(".*.tmp"):
            stray.unlink(missing_ok=True)
            removed.append(stray)
        if not vdir.is_dir():
            return removed
        for trash in vdir.glob(f"{_TRASH}*"):
            _discard(trash)
            removed.append(trash)
        for partial in vdir.glob(f"{_PARTIAL}*"):
            if partial.suffix == ".lock" or not partial.is_dir():
                continue
            try:
                with _writer_lock(vdir / f"{partial.name}.lock"):
                    shutil.rmtree(partial, ignore_errors=True)
                    removed.append(partial)
            except Timeout:
                log.debug("%s: %s is being written by a live process; left alone", key, partial)
        for orphan in vdir.glob(f"{_PARTIAL}*.lock"):
            if (vdir / orphan.stem).exists():
                continue
            with contextlib.suppress(Timeout), _writer_lock(orphan):
                pass  # its writer is gone: taking it and letting go removes the file
        return removed

    # -- reading ---------------------------------------------------------------------------------
    def _complete(self, path: Path) -> bool:
        return path.is_dir() and all((path / f).is_file() for f in REQUIRED_FILES)

    def info(self, key: str, version: str) -> VersionInfo:
        """A complete version (ModelError when it is absent or incomplete)."""
        check_version_id(version, key)
        path = self._versions_dir(key) / version
        if not path.is_dir():
            raise ModelError(f"no model version '{version}' for {key} — see `forecast models list`")
        missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
        if missing:
            raise ModelError(
                f"model version {version} of {key} is incomplete (no {', '.join(missing)}) — "
                f"choose another version (`forecast models list {key}`)"
            )
        return VersionInfo(
            key, version, path, _read_meta(path), is_champion=(version == self.champion(key))
        )

    def version_ids(self, key: str) -> list[str]:
        """The ids of all complete versions of a series, oldest first (no meta.json is read)."""
        vdir = self._versions_dir(key)
        if not vdir.is_dir():
            return []
        return sorted(
            p.name for p in vdir.iterdir() if VERSION_ID.fullmatch(p.name) and self._complete(p)
        )

    def versions(self, key: str) -> list[VersionInfo]:
        """All complete versions of a series, oldest first."""
        names = self.version_ids(key)
        if not names:
            return []
        vdir, champion = self._versions_dir(key), self.champion(key)
        return [
            VersionInfo(key, n, vdir / n, _read_meta(vdir / n), is_champion=(n == champion))
            for n in names
        ]

    def latest(self, key: str) -> VersionInfo | None:
        versions = self.versions(key)
        return versions[-1] if versions else None

    def champion_pointer(self, key: str) -> str | None:
        """What CHAMPION says (``None`` when there is no pointer); a garbled pointer is a ModelError.

        The version it names may be missing: :meth:`champion` checks that.
        """
        pointer = self.series_dir(key) / "CHAMPION"
        try:
            raw = pointer.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise storage_error(exc, f"read the champion pointer of {key}", pointer) from exc
        try:
            version = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            version = None
        if version == "":
            return None
        if version is None or not VERSION_ID.fullmatch(version):
            raise ModelError(
                f"{pointer} is garbled (not a version id) — choose the champion again with "
                f"`forecast models promote {key} VERSION` (versions: `forecast models list {key}`)"
            )
        return version

    def champion(self, key: str) -> str | None:
        """The champion's version id, or None when there is none usable (no pointer, a garbled
        pointer, or one naming a missing or incomplete version: :meth:`resolve` says which)."""
        try:
            version = self.champion_pointer(key)
        except ModelError:
            return None
        return version if version and self._complete(self._versions_dir(key) / version) else None

    def resolve(self, key: str, ref: str = "champion") -> VersionInfo:
        """A version from ``champion``, ``latest``, a version id, or a path to a model folder."""
        if ref == "champion":
            return self._resolve_champion(key)
        if ref == "latest":
            latest = self.latest(key)
            if latest is None:
                raise ModelError(f"no saved model for {key} — train one first with `forecast fit`")
            return latest
        if VERSION_ID.fullmatch(ref) and not (Path(ref) / "model.pt").is_file():
            return self.info(key, ref)
        path = Path(ref)
        if (path / "model.pt").is_file():
            return VersionInfo(key, path.resolve().name, path, _read_meta(path))
        raise ModelError(
            f"'{ref}' is neither a version of {key} nor a model folder — use champion, latest, a "
            f"version id (`forecast models list {key}`) or a folder holding model.pt"
        )

    def _resolve_champion(self, key: str) -> VersionInfo:
        version = self.champion_pointer(key)
        if version is None:
            if self.version_ids(key):
                raise ModelError(
                    f"{key} has saved versions but no champion — choose one with "
                    f"`forecast models promote {key} VERSION` (see `forecast models list {key}`), "
                    "or use --model latest"
                )
            raise ModelError(f"no saved model for {key} — train one first with `forecast fit`")
        if not self._complete(self._versions_dir(key) / version):
            raise ModelError(
                f"{key}: the champion {version} named in CHAMPION is missing or incomplete — "
                f"`forecast models rollback {key}` returns to the previous champion, "
                f"`forecast models promote {key} VERSION` chooses another"
            )
        return self.info(key, version)

    # -- champion --------------------------------------------------------------------------------
    def promote(self, key: str, version: str, reason: str = "", *, expected: Any = _ANY) -> None:
        """Make ``version`` the champion (log, then atomic pointer switch), under the store lock.

        ``expected``: the champion the caller decided against (``None``: none); when the champion
        is no longer that one, nothing changes and :class:`ChampionChanged` is raised.
        """
        self.info(key, version)  # absent, incomplete or not an id: fail before taking the lock
        with self.lock(key), _storage(f"switch the champion of {key}", self.series_dir(key)):
            self.info(key, version)  # and again under it: a prune may have removed it
            previous = self.champion(key)
            if expected is not _ANY and previous != expected:
                raise ChampionChanged(key, expected, previous)
            self._log(
                key,
                {"event": "promote", "version": version, "previous": previous, "reason": reason},
            )
            faults.point("store.promote.logged")
            write_text(self.series_dir(key) / "CHAMPION", version + "\n")
            faults.point("store.promote.switched")

    def rollback(self, key: str) -> str:
        """Return to the champion before the current one; returns the version now champion.

        Promotions push onto a stack of champions and rollbacks pop it, so repeated rollbacks walk
        further back in time (skipping versions that have since been pruned or are incomplete).
        The target is found from the current champion's place in that stack, so a promotion that
        was logged but never switched (a crash in between) is not mistaken for the current one.
        """
        if not self._versions_dir(key).is_dir():
            raise ModelError(f"no saved models for '{key}' — see `forecast models list`")
        with self.lock(key), _storage(f"roll back the champion of {key}", self.series_dir(key)):
            stack = _champion_stack(self.history(key))
            current = self.champion(key)
            if current in stack:
                stack = stack[: len(stack) - stack[::-1].index(current)]
            while stack:
                previous = stack.pop()
                if previous != current and self._complete(self._versions_dir(key) / previous):
                    self._log(key, {"event": "rollback", "version": previous, "previous": current})
                    faults.point("store.rollback.logged")
                    write_text(self.series_dir(key) / "CHAMPION", previous + "\n")
                    return previous
        raise ModelError(
            f"{key}: no earlier champion to roll back to — use `forecast models promote {key} VERSION`"
        )

    # -- history -----------------------------------------------------------------------------------
    def history(self, key: str) -> list[dict[str, Any]]:
        """Every readable entry of history.jsonl, oldest first (torn or garbled lines are skipped)."""
        path = self.series_dir(key) / "history.jsonl"
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

    def record(self, key: str, event: str, **fields: Any) -> None:
        """Append an event (e.g. a nightly ``attempt``) to the series' history, under the lock."""
        with self.lock(key), _storage(f"write the history of {key}", self.series_dir(key)):
            self._log(key, {"event": event, **fields})

    def last_event(self, key: str, event: str) -> dict[str, Any] | None:
        """The newest history entry of this kind, or None."""
        return next((e for e in reversed(self.history(key)) if e.get("event") == event), None)

    def _log(self, key: str, entry: dict[str, Any]) -> None:
        """Append one line; a torn last line (a crash mid-append) is ended first, never glued to."""
        entry = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **entry}
        path = self.series_dir(key) / "history.jsonl"
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

    # -- housekeeping ----------------------------------------------------------------------------
    def prune(self, key: str, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions; the champion is always kept.

        Each doomed version is first renamed to a hidden trash name (atomic, under the lock), then
        deleted; a crash mid-delete leaves only trash, which :meth:`recover` removes.
        """
        vdir = self._versions_dir(key)
        trash: list[Path] = []
        if not vdir.is_dir():
            return []
        with self.lock(key), _storage(f"remove old versions of {key}", vdir):
            champion = self.champion(key)
            versions = self.version_ids(key)
            doomed = [v for v in versions[: max(len(versions) - keep, 0)] if v != champion]
            for v in doomed:
                target = vdir / f"{_TRASH}{v}-{secrets.token_hex(2)}"
                os.replace(vdir / v, target)
                trash.append(target)
            if trash:
                fsync_dir(vdir)
        faults.point("store.prune.trashed")
        for folder in trash:
            _discard(folder)
        return doomed


def _champion_stack(history: list[dict[str, Any]]) -> list[str]:
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


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError includes UnicodeDecodeError
        return {"error": "meta.json missing or unreadable"}
    return meta if isinstance(meta, dict) else {"error": "meta.json is not a JSON object"}


def _discard(folder: Path) -> None:
    """Delete a folder that is already out of sight (trash or a dead partial), file by file."""
    try:
        for child in sorted(folder.iterdir()):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
            faults.point("store.prune.deleting")
        folder.rmdir()
    except FileNotFoundError:
        pass  # another process (recover) deleted it at the same time
    except OSError as exc:
        log.warning("could not delete %s (%s); the next run retries", folder, exc)
