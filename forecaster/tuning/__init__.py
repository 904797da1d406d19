"""``forecast tune``: a time-budgeted Optuna search for better settings of a series, judged on rolling-origin validation blocks before the test span.

:func:`tune` runs it (:mod:`forecaster.tuning.run`); the space is :mod:`~forecaster.tuning.space`,
the blocks :mod:`~forecaster.tuning.blocks`, a trial's score :mod:`~forecaster.tuning.objective`,
the storage and workers :mod:`~forecaster.tuning.study`, the keep-or-not rule
:mod:`~forecaster.tuning.decision`, the HTML page :mod:`~forecaster.tuning.report`.
"""

from forecaster.tuning.budget import Budget, parse_duration
from forecaster.tuning.decision import Decision, decide
from forecaster.tuning.run import TuneResult, tune
from forecaster.tuning.space import SearchSpace, load_space, parse_space

__all__ = [
    "Budget",
    "Decision",
    "SearchSpace",
    "TuneResult",
    "decide",
    "load_space",
    "parse_duration",
    "parse_space",
    "tune",
]
