"""One rule for a group's score: each member's error relative to its own naive error, averaged.

Why this rule: the members of a group are on different scales (share prices of 25 and 600 USD,
temperatures in °C next to rainfall in mm), so an error pooled over all their windows in target
units lets the largest-valued member decide alone, and an average of raw errors does the same.
Dividing each member's error by the same member's error of a reference method that every member
has (naive: tomorrow = today) makes the errors unit-free and comparable: 1.0 is "as good as naive
on that member", 0.9 "10% better". The group's score of a method is the mean of that ratio over
its members, so every member counts once, whatever its scale or length.

For a group of one the ratio divides every method's error by the same positive number, so it ranks
methods exactly as the plain metric does. Interval coverage (% of actuals inside the interval) is
already unit-free: it is averaged as it is.

The fit's validation table and the group backtest (:func:`~forecaster.backtest.evaluate.pooled`)
and the nightly holdout (:func:`pool_members`) all pool with :func:`relative_mean`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

Metric = Literal["mae", "rmse", "smape"]
METRICS: tuple[Metric, ...] = get_args(Metric)
REFERENCE = "naive"
"""The method every member's errors are divided by."""


@dataclass(frozen=True)
class Scores:
    """One method's scores on one set of forecast windows.

    ``mae`` and ``rmse`` are in the target's units (pooled: multiples of the reference's error),
    ``smape`` in percent (0..200); ``inf`` when the method's forecasts were not all finite.
    ``coverage``: interval level in percent (``80.0``) -> % of actuals inside that interval.
    """

    mae: float
    rmse: float
    smape: float
    coverage: Mapping[float, float] = field(default_factory=dict)

    def error(self, metric: Metric) -> float:
        """The error named ``metric``."""
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r} — use one of {', '.join(METRICS)}")
        return float(getattr(self, metric))

    @property
    def finite(self) -> bool:
        """Whether every error is a finite number (a diverged model's are ``inf``)."""
        return all(math.isfinite(self.error(m)) for m in METRICS)

    @classmethod
    def infinite(cls, coverage: Mapping[float, float] | None = None) -> Scores:
        """The scores of a method whose forecasts were not all finite: never best, never promoted."""
        return cls(math.inf, math.inf, math.inf, dict(coverage or {}))


def pool_members(
    per_member: Mapping[str, Mapping[str, Scores]], reference: str = REFERENCE
) -> dict[str, Scores]:
    """A group's scores per method: the mean over members of each error divided by the member's
    ``reference`` error of the same metric, and the mean coverage per level.

    ``per_member``: member -> method -> :class:`Scores`, every member holding ``reference``. The
    methods are those of the first member, in its order; each is averaged over the members that
    have it (a baseline a short member lacked history for is averaged over the others). A member
    whose reference error is 0 or not finite cannot be scaled: its errors count as they are.
    Returns ``{}`` for no members.
    """
    if not per_member:
        return {}
    missing = [name for name, scores in per_member.items() if reference not in scores]
    if missing:
        raise ValueError(f"members {missing} have no {reference!r} scores to be relative to")
    first = next(iter(per_member.values()))
    pooled = {}
    for method in first:
        members = [scores for scores in per_member.values() if method in scores]
        pooled[method] = Scores(
            *(
                relative_mean([(s[method].error(m), s[reference].error(m)) for s in members])
                for m in METRICS
            ),
            coverage=_mean_coverage([s[method].coverage for s in members]),
        )
    return pooled


def relative_mean(pairs: Sequence[tuple[float, float]]) -> float:
    """The rule itself: the mean over members of ``error / reference_error`` (a member whose
    reference error is 0 or not finite cannot be scaled: its error counts as it is); ``inf``
    when any member's error is not finite. ``pairs``: per member (error, reference error)."""
    values = [e / r if math.isfinite(r) and r > 0 else e for e, r in pairs]
    return math.fsum(values) / len(values) if all(map(math.isfinite, values)) else math.inf


def _mean_coverage(coverages: list[Mapping[float, float]]) -> dict[float, float]:
    """Per level, the mean coverage over the members that have that level."""
    levels = sorted({level for coverage in coverages for level in coverage})
    return {
        level: math.fsum(c[level] for c in coverages if level in c)
        / sum(level in c for c in coverages)
        for level in levels
    }
