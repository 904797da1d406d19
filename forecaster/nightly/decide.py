"""The promotion decision: a pure function from holdout scores and the policy to a :class:`Decision`.

The challenger must be finite, beat the champion by the margin and, with
``require_beat_baseline``, beat the best baseline by the margin too (and, for a group, be no worse
than any member's own best baseline by more than the margin). Without a usable champion it is
promoted (a series must have a model to serve), and the reason says how it compares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from forecaster.backtest.pooling import Metric, Scores
from forecaster.nightly.status import Status


@dataclass(frozen=True)
class Rule:
    """The nightly settings that decide a promotion (see :class:`~forecaster.nightly.config.NightlyConfig`)."""

    metric: Metric = "mae"
    margin: float = 0.0
    """Promote only if the challenger's error < the champion's x (1 - margin)."""
    require_beat_baseline: bool = True
    """Also require the challenger's error < the best baseline's x (1 - margin)."""


@dataclass(frozen=True)
class MemberScores:
    """One group member's own holdout scores: the challenger's and the baselines' (target units)."""

    challenger: Scores
    baselines: Mapping[str, Scores]


@dataclass(frozen=True)
class Decision:
    """Whether to promote the challenger, and why."""

    promote: bool
    reason: str
    """One line for the run summary, with the scores compared."""
    history: str = ""
    """The model store's history entry when promoted (``no usable champion``, ``mae 1.2 < 1.3``)."""
    best_baseline: str | None = None
    """The baseline with the lowest error on the holdout (None: no baseline was scored)."""
    best_baseline_error: float = math.inf
    beats_baseline: bool = False
    """Whether the challenger's error < the best baseline's x (1 - margin)."""

    @property
    def status(self) -> Status:
        return Status.PROMOTED if self.promote else Status.KEPT


DIVERGED = Decision(False, "challenger diverged (non-finite validation error); not promoted")
"""The decision when the challenger's validation error is not finite: it is not even scored."""


def decide(
    champion: Scores | None,
    challenger: Scores,
    baselines: Mapping[str, Scores],
    rule: Rule,
    *,
    members: Mapping[str, MemberScores] | None = None,
) -> Decision:
    """Promote the challenger or keep the champion, from their scores on the same holdout.

    ``champion``: None when the series has no usable champion. ``baselines``: name -> scores, in
    report order (ties go to the first). ``members``: a group's per-member scores; then the
    scores given are pooled (each relative to naive, see :mod:`forecaster.backtest.pooling`) and
    the reasons say ``mae/naive``.
    """
    metric, margin = rule.metric, rule.margin
    unit = f"{metric}/naive" if members else metric
    chall = challenger.error(metric)
    name, base = best_baseline(baselines, metric)
    beats = chall < base * (1 - margin)
    versus = _versus_baseline(beats, name, unit, chall, base, margin)
    common = {"best_baseline": name, "best_baseline_error": base, "beats_baseline": beats}
    if not math.isfinite(chall):
        return Decision(False, "challenger produced non-finite forecasts; not promoted", **common)
    if champion is None:
        reason = "no champion yet" + ("" if beats else f"; the challenger {versus}")
        return Decision(True, reason, "no usable champion", **common)
    if rule.require_beat_baseline and not beats:
        return Decision(False, f"challenger {versus}; not promoted", **common)
    worse = members_worse_than_baseline(members or {}, metric, margin)
    if rule.require_beat_baseline and worse:
        reason = f"the challenger is worse than a member's own best baseline: {worse}"
        return Decision(False, reason, **common)
    champ = champion.error(metric)
    if not chall < champ * (1 - margin):
        reason = (
            f"challenger {unit} {chall:.4g} does not beat champion {champ:.4g} by margin "
            f"{margin:.0%}"
        )
        return Decision(False, reason, **common)
    reason = f"challenger {unit} {chall:.4g} beats champion {champ:.4g} (margin {margin:.0%})"
    if rule.require_beat_baseline and name is not None:
        reason += f" and {versus.replace('beats ', '', 1)}"
    return Decision(True, reason, f"{unit} {chall:.4g} < {champ:.4g}", **common)


def best_baseline(baselines: Mapping[str, Scores], metric: Metric) -> tuple[str | None, float]:
    """The baseline with the lowest ``metric`` and that error; non-finite errors rank last, ties
    go to the first in ``baselines``' order; ``(None, inf)`` when there is none."""
    if not baselines:
        return None, math.inf

    def rank(name: str) -> float:
        error = baselines[name].error(metric)
        return error if math.isfinite(error) else math.inf

    name = min(baselines, key=rank)
    return name, baselines[name].error(metric)


def members_worse_than_baseline(
    members: Mapping[str, MemberScores], metric: Metric, margin: float
) -> str:
    """The members whose challenger is worse than their own best baseline by more than the margin,
    in words (empty when none): a global model must not sacrifice a member for the average."""
    worse = []
    for symbol, scores in members.items():
        name, base = best_baseline(scores.baselines, metric)
        chall = scores.challenger.error(metric)
        if name is not None and not chall <= base * (1 + margin):
            worse.append(f"{symbol} {metric} {chall:.4g} vs {name} {base:.4g}")
    return "; ".join(worse) + (f" (margin {margin:.0%})" if worse else "")


def _versus_baseline(
    beats: bool, name: str | None, unit: str, chall: float, base: float, margin: float
) -> str:
    """``beats the best baseline drift (mae 1.2 vs 1.3, margin 2%)``, or ``does not beat ...``."""
    if name is None:
        return "has no baseline to compare with"
    return (
        f"{'beats' if beats else 'does not beat'} the best baseline {name} "
        f"({unit} {chall:.4g} vs {base:.4g}, margin {margin:.0%})"
    )
