"""A study's trials as typed records: settings, outcome, block scores, time (read back from the storage)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from forecaster.tuning.objective import BlockScore
from forecaster.tuning.space import SearchSpace, values_of


class Outcome(enum.Enum):
    """How a trial ended (Optuna's states)."""

    COMPLETE = "complete"
    PRUNED = "pruned"
    FAIL = "failed"
    RUNNING = "running"
    WAITING = "waiting"


@dataclass(frozen=True)
class TrialRecord:
    """One trial: ``number`` in the study, its ``outcome``, ``value`` (mean relative MAE over the
    blocks; None unless complete), ``params`` (as Optuna stores them: choices by label), ``settings``
    (dotted config key -> value), ``blocks`` scored, ``note`` (why pruned or failed), ``seconds``."""

    number: int
    outcome: Outcome
    value: float | None
    params: dict[str, Any]
    settings: dict[str, Any]
    blocks: list[BlockScore] = field(repr=False)
    note: str = ""
    seconds: float | None = None

    @property
    def complete(self) -> bool:
        return self.outcome is Outcome.COMPLETE

    @property
    def pruned(self) -> bool:
        return self.outcome is Outcome.PRUNED


def record(trial, space: SearchSpace) -> TrialRecord:
    """A :class:`TrialRecord` of an Optuna ``FrozenTrial``."""
    attrs = trial.user_attrs
    blocks = sorted(
        (BlockScore.from_attrs(v) for k, v in attrs.items() if k.startswith("block_")),
        key=lambda s: s.block,
    )
    seconds = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    outcome = Outcome[trial.state.name]
    return TrialRecord(
        trial.number,
        outcome,
        trial.value if outcome is Outcome.COMPLETE else None,
        dict(trial.params),
        values_of(trial.params, space),
        blocks,
        attrs.get("pruned") or attrs.get("error") or "",
        seconds,
    )


def records(study, space: SearchSpace) -> list[TrialRecord]:
    """Every trial of ``study``, by number."""
    return [record(t, space) for t in study.get_trials(deepcopy=False)]
