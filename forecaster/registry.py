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

**Links.** A version (or trash, or partial) folder may be a link to another disk; deleting one
removes the link, never what it points to, and nothing is deleted in a ``versions`` folder whose
real place is outside the store (see :mod:`forecaster.removal`; ``history.jsonl`` is read and
written by :mod:`forecaster.store_history`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import Timeout

from forecaster import faults
from forecaster.errors import ForecasterError, ModelError, storage_error
from forecaster.io import fsync_dir, held_lock, storage, write_text, writer_lock
from forecaster.removal import discard, inside
from forecaster.store_history import append_history, champion_stack, read_history
from forecaster.store_versions import (
    REQUIRED_FILES,
    VERSION_ID,
    VersionInfo,
    check_version_id,
    complete,
    new_version_id,
    read_meta,
)

log = logging.getLogger(__name__)

_PARTIAL = ".partial-"
_TRASH = ".trash-"
LOCK_TIMEOUT = 30.0
"""Seconds a writer waits for a series' store lock (held only for renames and small writes)."""
_ANY = object()


class ChampionChanged(ModelError):
    """The champion is no longer the one a promotion expected (someone else switched it)."""

    def __init__(self, key: str, expected: str | None, current: str | None):
        self.expected, self.current = expected, current
        super().__init__(
            f"{key}: the champion changed from {expected or 'none'} to {current or 'none'} "
            "while this run worked; it was left as it is"
        )


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
        with storage(f"save model version {version} of {key}", final):
            vdir.mkdir(parents=True, exist_ok=True)
            with writer_lock(vdir / f"{tmp.name}.lock"):
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
            with self.lock(k), storage(f"clean up the model store of {k}", sdir):
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
            if discard(trash, self.root):
                removed.append(trash)
        for partial in vdir.glob(f"{_PARTIAL}*"):
            if partial.suffix == ".lock" or not partial.is_dir():
                continue
            try:
                with writer_lock(vdir / f"{partial.name}.lock"):
                    if discard(partial, self.root):
                        removed.append(partial)
            except Timeout:
                log.debug("%s: %s is being written by a live process; left alone", key, partial)
        for orphan in vdir.glob(f"{_PARTIAL}*.lock"):
            if (vdir / orphan.stem).exists():
                continue
            with contextlib.suppress(Timeout), writer_lock(orphan):
                pass  # its writer is gone: taking it and letting go removes the file
        return removed

    # -- reading ---------------------------------------------------------------------------------
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
            key, version, path, read_meta(path), is_champion=(version == self.champion(key))
        )

    def version_ids(self, key: str) -> list[str]:
        """The ids of all complete versions of a series, oldest first (no meta.json is read)."""
        vdir = self._versions_dir(key)
        if not vdir.is_dir():
            return []
        return sorted(
            p.name for p in vdir.iterdir() if VERSION_ID.fullmatch(p.name) and complete(p)
        )

    def versions(self, key: str) -> list[VersionInfo]:
        """All complete versions of a series, oldest first."""
        names = self.version_ids(key)
        if not names:
            return []
        vdir, champion = self._versions_dir(key), self.champion(key)
        return [
            VersionInfo(key, n, vdir / n, read_meta(vdir / n), is_champion=(n == champion))
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
        return version if version and complete(self._versions_dir(key) / version) else None

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
            return VersionInfo(key, path.resolve().name, path, read_meta(path))
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
        if not complete(self._versions_dir(key) / version):
            raise ModelError(
                f"{key}: the champion {version} named in CHAMPION is missing or incomplete — "
                f"`forecast models rollback {key}` returns to the previous champion, "
                f"`forecast models promote {key} VERSION` chooses another"
            )
        return self.info(key, version)

    # -- champion --------------------------------------------------------------------------------
    def promote(
        self,
        key: str,
        version: str,
        reason: str = "",
        *,
        expected: Any = _ANY,
        check: Callable[[Path], object] | None = None,
    ) -> None:
        """Make ``version`` the champion (log, then atomic pointer switch), under the store lock.

        ``expected``: the champion the caller decided against (``None``: none); when the champion
        is no longer that one, nothing changes and :class:`ChampionChanged` is raised.
        ``check(folder)``: loads the version first (e.g. ``FittedModel.load``); a version it
        refuses (a ForecasterError: corrupt, not finite) is never switched to.
        """
        info = self.info(key, version)  # absent, incomplete or not an id: fail before the lock
        if check is not None:
            try:
                check(info.path)
            except ForecasterError as exc:
                raise ModelError(
                    f"{key}: version {version} was not promoted, it does not load: {exc}"
                ) from None
        with self.lock(key), storage(f"switch the champion of {key}", self.series_dir(key)):
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
        with self.lock(key), storage(f"roll back the champion of {key}", self.series_dir(key)):
            stack = champion_stack(self.history(key))
            current = self.champion(key)
            if current in stack:
                stack = stack[: len(stack) - stack[::-1].index(current)]
            while stack:
                previous = stack.pop()
                if previous != current and complete(self._versions_dir(key) / previous):
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
        return read_history(self.series_dir(key) / "history.jsonl", key)

    def record(self, key: str, event: str, **fields: Any) -> None:
        """Append an event (e.g. a nightly ``attempt``) to the series' history, under the lock."""
        with self.lock(key), storage(f"write the history of {key}", self.series_dir(key)):
            self._log(key, {"event": event, **fields})

    def last_event(self, key: str, event: str) -> dict[str, Any] | None:
        """The newest history entry of this kind, or None."""
        return next((e for e in reversed(self.history(key)) if e.get("event") == event), None)

    def _log(self, key: str, entry: dict[str, Any]) -> None:
        append_history(self.series_dir(key) / "history.jsonl", entry)

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
        if not inside(vdir, self.root):
            log.warning(
                "%s: old versions were not pruned: %s is a link to %s, outside the model store "
                "%s — prune them there by hand",
                key,
                vdir,
                vdir.resolve(),
                self.root,
            )
            return []
        with self.lock(key), storage(f"remove old versions of {key}", vdir):
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
            discard(folder, self.root)
        return doomed
