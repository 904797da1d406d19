"""How long a study may search: a wall-clock limit (``--time 10m``) and/or a number of trials (``--trials N``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from forecaster.errors import ConfigError

DEFAULT_SECONDS = 600.0
"""The limit when neither a time nor a trial count is given: 10 minutes."""

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(h|m|s)?", re.IGNORECASE)
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds in ``"10m"``, ``"90s"``, ``"1h30m"``, ``"1.5m"`` or ``"300"`` (seconds); a one-line
    ConfigError for anything else, zero or a negative time."""
    raw = str(text).strip()
    if raw.startswith("-"):
        raise ConfigError(f"--time {raw} is negative — give a positive time such as 10m or 90s")
    parts = list(_PART.finditer(raw))
    if not raw or "".join(m.group(0) for m in parts).replace(" ", "") != raw.replace(" ", ""):
        raise ConfigError(f"--time {raw!r} is not a time — write e.g. 10m, 90s, 1h30m or 300")
    seconds = sum(float(m.group(1)) * _UNIT[(m.group(2) or "").lower() or None] for m in parts)
    if not seconds > 0 or not math.isfinite(seconds):
        raise ConfigError(f"--time {raw} is no time at all — give a positive time such as 10m")
    return seconds


def format_seconds(seconds: float) -> str:
    """``75.2`` -> ``"1m15s"``, ``42`` -> ``"42s"``, ``3725`` -> ``"1h02m"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


@dataclass(frozen=True)
class Budget:
    """At most ``seconds`` of searching and/or ``trials`` new trials in this run (None: no limit
    of that kind; at least one is set). The time counts from the first trial (the default's
    scoring, once per study, comes before); a trial that started before it ran out finishes."""

    seconds: float | None = DEFAULT_SECONDS
    trials: int | None = None

    @classmethod
    def parse(cls, time: str | None, trials: int | None) -> Budget:
        """From ``--time`` and ``--trials``; neither: 10 minutes. One-line ConfigErrors for a zero
        or negative budget."""
        if trials is not None and trials < 1:
            raise ConfigError(f"--trials {trials} runs nothing — give at least 1")
        if time is None:
            return cls(DEFAULT_SECONDS if trials is None else None, trials)
        return cls(parse_duration(time), trials)

    def describe(self) -> str:
        parts = [format_seconds(self.seconds)] if self.seconds is not None else []
        parts += [f"{self.trials} trial{'s' * (self.trials != 1)}"] if self.trials else []
        return " or ".join(parts)
