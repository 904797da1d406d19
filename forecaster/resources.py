"""Files that ship with the package: the real-data snapshots and the default configs.

In an installed wheel they live in ``forecaster/_bundled``; in a source checkout (editable install)
they are read from the repository's ``data/snapshots`` and ``configs`` folders.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent
_REPO = _PKG.parent


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def snapshots_dir() -> Path:
    """Folder holding the bundled real-data CSV snapshots."""
    return _first_existing(_PKG / "_bundled" / "snapshots", _REPO / "data" / "snapshots")


def configs_dir() -> Path:
    """Folder holding the default YAML configs."""
    return _first_existing(_PKG / "_bundled" / "configs", _REPO / "configs")
