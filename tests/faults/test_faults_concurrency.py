"""Runs on one series at the same time (real child processes paused at known points).

Each scenario returns the problems it found; an empty list is a pass. They share one data root
in order, as the nightly job would see it over several days.
"""

from __future__ import annotations

import faults
import pytest


@pytest.fixture(scope="module")
def world(scratch, runner):
    w = faults.World(scratch / "concurrency", runner)
    faults.first_night(w)
    return w


def test_two_overlapping_retrains_train_the_job_once(world):
    assert faults.overlapping_retrains(world) == []


def test_fit_retrain_and_promote_at_once_lose_nothing(world):
    problems = faults.fit_retrain_promote(world)
    assert problems == []


def test_ctrl_c_during_training_writes_the_summary_and_exits_130(world):
    assert faults.ctrl_c_during_training(world) == []
