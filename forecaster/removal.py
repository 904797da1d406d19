"""Deleting what the model store no longer needs, without ever following a link out of it.

An operator may move old versions to another disk and link them back: a version folder, a
``.trash-*`` or ``.partial-*`` entry, a file inside a version, or a whole ``versions`` folder can
be a symbolic link. The store removes the *link*, never what it points to, and never deletes in a
folder whose real location lies outside the store's root (``models/``): there it leaves
everything alone and logs a warning naming the link.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from forecaster import faults

log = logging.getLogger(__name__)


def inside(path: Path, root: Path) -> bool:
    """Whether ``path``'s real location (links resolved) lies in ``root``'s real location."""
    try:
        return Path(path).resolve().is_relative_to(Path(root).resolve())
    except (OSError, RuntimeError):  # a link loop: not somewhere the store may delete
        return False


def discard(entry: Path, root: Path) -> bool:
    """Delete ``entry`` (a folder already out of sight: trash or a dead partial) under ``root``.

    A link is unlinked itself (its target is left alone, with a warning when it lies outside
    ``root``); a real folder is emptied child by child -- links among its children unlinked, real
    sub-folders removed without following links -- and then removed. Nothing is deleted when the
    folder holding ``entry`` really lies outside ``root`` (a linked ``versions`` folder). Returns
    whether ``entry`` is gone; errors other than "already gone" are logged, for the next run.
    """
    if not inside(entry.parent, root):
        log.warning(
            "left %s alone: its folder is a link to %s, outside the model store %s — remove it "
            "there by hand if it is not needed",
            entry,
            entry.parent.resolve(),
            root,
        )
        return False
    try:
        if entry.is_symlink():
            _unlink_link(entry, root)
        elif entry.is_dir():
            _empty_and_remove(entry)
        else:
            entry.unlink()
    except FileNotFoundError:
        pass  # another process (recover) deleted it at the same time
    except OSError as exc:
        log.warning("could not delete %s (%s); the next run retries", entry, exc)
        return False
    return True


def _unlink_link(link: Path, root: Path) -> None:
    target = Path(os.path.realpath(link))
    link.unlink()
    if not inside(target, root):
        log.warning(
            "removed the link %s only: it pointed to %s, outside the model store, which was "
            "left as it is — delete it there if it is no longer needed",
            link,
            target,
        )


def _empty_and_remove(folder: Path) -> None:
    for child in sorted(folder.iterdir()):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)  # never follows links inside (fd-based on Linux)
        else:
            child.unlink()  # a file, or a link: the link itself
        faults.point("store.prune.deleting")
    folder.rmdir()
