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

When the variable is unset a point costs one environment lookup.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

ENV = "FORECASTER_FAULT"
JOB_ENV = "FORECASTER_FAULT_JOB"
_hits: dict[str, int] = {}


@contextlib.contextmanager
def only_for_job(job: str) -> Iterator[None]:
    """Disarm ``FORECASTER_FAULT`` for the duration of a nightly job other than ``FORECASTER_FAULT_JOB``."""
    aimed = os.environ.get(JOB_ENV)
    if not aimed or aimed == job or ENV not in os.environ:
        yield
        return
    spec = os.environ.pop(ENV)
    try:
        yield
    finally:
        os.environ[ENV] = spec


def point(name: str) -> None:
    """A place where ``FORECASTER_FAULT`` may kill or pause this process."""
    spec = os.environ.get(ENV)
    if spec and spec.split(":", 1)[0].split("@", 1)[0] == name:
        _trigger(name, spec)


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


def training_callbacks() -> list:
    """A Lightning callback with the point ``train.epoch`` (end of every epoch), only when armed."""
    spec = os.environ.get(ENV)
    if not spec or not spec.startswith("train."):
        return []
    from lightning.pytorch.callbacks import Callback

    class _EpochPoint(Callback):
        def on_train_epoch_end(self, trainer, pl_module) -> None:
            point("train.epoch")

    return [_EpochPoint()]
