"""Fault injection for the crash and concurrency tests (``benchmarks/faults.py``, ``tests/faults/``).

Named points sit where a crash or a race matters (mid-save, between the history entry and the
champion switch, mid-prune, ...). Nothing happens unless ``FORECASTER_FAULT`` names the point::

    FORECASTER_FAULT=store.promote.logged            SIGKILL this process the first time it gets there
    FORECASTER_FAULT=train.epoch@2                   ... the second time
    FORECASTER_FAULT=train.epoch:wait=/tmp/go        create /tmp/go.reached, then wait until /tmp/go
                                                     exists (at most 10 minutes): a run paused at a
                                                     known point, for overlapping-run tests

With ``FORECASTER_FAULT_JOB=<job name>`` the fault is armed only while the nightly run is on that
job (in whichever worker runs it), so one job's worker can be killed while the others run on.

The environment is read in two places only. A named point (:func:`point`) in the store and the
atomic-write code reads ``FORECASTER_FAULT`` when it is reached, the standard way for failpoints. An
entry point (``forecast retrain``) reads both variables once into a :class:`FaultPlan` and hands it
to each job, which arms it (:meth:`FaultPlan.armed`) around its work and passes its Lightning
callbacks (:meth:`FaultPlan.callbacks`) to the fit: while a plan is armed, the points in that
context follow the plan, not the environment, so a job in a reused worker never sees a stale
variable and nothing here ever writes ``os.environ``.

When nothing is armed and the variable is unset a point costs one environment lookup.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path

ENV = "FORECASTER_FAULT"
JOB_ENV = "FORECASTER_FAULT_JOB"
_hits: dict[str, int] = {}


@dataclass(frozen=True)
class FaultPlan:
    """Which point to trigger and how (``spec``, the syntax of ``FORECASTER_FAULT``; empty: none),
    and the one nightly job it is aimed at (``job``; empty: every job). Picklable, so a worker
    process or a Ray task receives it with its job."""

    spec: str = ""
    job: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> FaultPlan:
        """The plan ``FORECASTER_FAULT`` and ``FORECASTER_FAULT_JOB`` describe (read once, by an
        entry point)."""
        return cls(environ.get(ENV, ""), environ.get(JOB_ENV, ""))

    @property
    def target(self) -> str:
        """The point's name: ``store.promote.logged`` of ``store.promote.logged@2:wait=/tmp/go``."""
        return self.spec.split(":", 1)[0].split("@", 1)[0]

    def for_job(self, job: str) -> FaultPlan:
        """This plan for the nightly job ``job``: itself when aimed at that job or at none, else
        a plan that triggers nothing."""
        return self if not self.job or self.job == job else replace(self, spec="")

    def hit(self, name: str) -> None:
        """The point ``name`` was reached: kill or pause this process if the plan names it."""
        if self.spec and self.target == name:
            _trigger(name, self.spec)

    def callbacks(self) -> list:
        """A Lightning callback with the point ``train.epoch`` (end of every epoch) when the plan
        names a ``train.`` point; else none (a fit without faults gets no extra callback)."""
        if not self.target.startswith("train."):
            return []
        from lightning.pytorch.callbacks import Callback

        plan = self

        class _EpochPoint(Callback):
            def on_train_epoch_end(self, trainer, pl_module) -> None:
                plan.hit("train.epoch")

        return [_EpochPoint()]

    @contextlib.contextmanager
    def armed(self) -> Iterator[FaultPlan]:
        """While inside, every :func:`point` reached in this context follows this plan."""
        token = _ARMED.set(self)
        try:
            yield self
        finally:
            _ARMED.reset(token)


NO_FAULTS = FaultPlan()
"""The plan of every run that is not a fault test."""
_ARMED: ContextVar[FaultPlan | None] = ContextVar("forecaster_fault_plan", default=None)


def point(name: str) -> None:
    """A place where the armed plan, or else ``FORECASTER_FAULT``, may kill or pause this process."""
    plan = _ARMED.get()
    if plan is not None:
        plan.hit(name)
        return
    spec = os.environ.get(ENV)
    if spec:
        FaultPlan(spec).hit(name)


def training_callbacks() -> list:
    """The fault callbacks for a fit started from the command line (``forecast fit``): the armed
    plan's, else those ``FORECASTER_FAULT`` asks for (see :meth:`FaultPlan.callbacks`)."""
    return (_ARMED.get() or FaultPlan.from_env()).callbacks()


def _trigger(name: str, spec: str) -> None:
    head, _, action = spec.partition(":")
    nth = int(head.partition("@")[2] or 1)
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] != nth:
        return
    if action.startswith("wait="):
        go = Path(action.removeprefix("wait="))
        Path(f"{go}.reached").write_text(str(os.getpid()), encoding="utf-8")
        deadline = time.monotonic() + 600
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return
    os.kill(os.getpid(), signal.SIGKILL)
