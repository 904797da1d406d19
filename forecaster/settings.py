"""Where forecaster keeps its files.

One data root holds everything the program writes::

    <root>/cache/<source>/<symbol>_<interval>.parquet   fetched series
    <root>/models/<series key>/<version>/                saved models (see registry)
    <root>/reports/                                      backtest and prediction reports
    <root>/runs/                                         nightly retraining summaries

The root is, in order of precedence: an explicit argument (the CLI's ``--data-root``), the
``FORECASTER_HOME`` environment variable, or ``./data``. Library code never hard-codes a path; it asks
this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "FORECASTER_HOME"


@dataclass(frozen=True)
class Paths:
    """The folders under one data root. Nothing is created until asked for."""

    root: Path

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def locks(self) -> Path:
        return self.root / "locks"


def data_root(override: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data root: ``override``, else ``$FORECASTER_HOME``, else ``./data``."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser().resolve()
    return Path("data").resolve()


def paths(override: str | os.PathLike[str] | None = None) -> Paths:
    """The :class:`Paths` for the resolved data root."""
    return Paths(data_root(override))
