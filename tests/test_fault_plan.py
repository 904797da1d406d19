"""The fault plan: read once from the environment, handed to each nightly job, armed by the job.

A ``wait=`` action whose go-file already exists returns at once but leaves ``<go>.reached``: a way
to see which points fired without killing or pausing the test process.
"""

from __future__ import annotations

import os

import pytest

from forecaster import faults
from forecaster.faults import NO_FAULTS, FaultPlan
from forecaster.nightly.config import JobConfig, NightlyConfig
from forecaster.nightly.job import run_job
from forecaster.nightly.status import Status
from forecaster.registry import ModelStore
from forecaster.settings import paths

TINY = {
    "data.target": "close",
    "model.lookback": 20,
    "model.horizon": 5,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "train.max_epochs": 1,
    "train.batch_size": 64,
    "train.logger": "none",
}


@pytest.fixture
def go(tmp_path, monkeypatch):
    """A go-file that exists (a ``wait=`` point passes at once) and fresh hit counts."""
    monkeypatch.setattr(faults, "_hits", {})
    path = tmp_path / "go"
    path.write_text("")
    return path


@pytest.fixture
def job(tmp_path, aapl):
    path = tmp_path / "aapl.csv"
    aapl.frame.iloc[:600].tz_localize(None).to_csv(path, index_label="time")
    return JobConfig(name="aapl", csv=str(path), overrides=TINY)


def reached(go) -> bool:
    return go.with_name(f"{go.name}.reached").exists()


def test_the_plan_is_read_from_the_environment_and_aimed_at_one_job():
    plan = FaultPlan.from_env({faults.ENV: "store.save.written@2:wait=/x", faults.JOB_ENV: "b"})
    assert (plan.spec, plan.job, plan.target) == (
        "store.save.written@2:wait=/x",
        "b",
        "store.save.written",
    )
    assert plan.for_job("b") is plan
    assert plan.for_job("a").spec == ""
    assert FaultPlan("io.replace").for_job("any").spec == "io.replace"  # aimed at no job: all
    assert FaultPlan.from_env({}) == NO_FAULTS


def test_an_armed_plan_decides_over_the_environment(go, monkeypatch):
    monkeypatch.setenv(faults.ENV, f"io.replace:wait={go}")
    with NO_FAULTS.armed():
        faults.point("io.replace")
    assert not reached(go)  # the armed plan names no point
    faults.point("io.replace")  # nothing armed: the environment's failpoint
    assert reached(go)


def test_training_callbacks_only_for_a_training_point():
    assert FaultPlan("store.promote.logged").callbacks() == []
    assert NO_FAULTS.callbacks() == []
    (callback,) = FaultPlan("train.epoch@2").callbacks()
    assert type(callback).__name__ == "_EpochPoint"


@pytest.mark.parametrize("aimed, fires", [("aapl", True), ("other", False), ("", True)])
def test_a_job_arms_its_plan_and_never_touches_the_environment(job, go, aimed, fires):
    before = dict(os.environ)
    plan = FaultPlan(f"retrain.locked:wait={go}", aimed)
    out = run_job(job, NightlyConfig(jobs=[job]), dry_run=True, fault_plan=plan)
    assert out.status == Status.WOULD_TRAIN, out.reason
    assert reached(go) == fires
    assert dict(os.environ) == before


def test_the_job_hands_its_plans_callbacks_to_the_fit(job, go, tmp_path):
    where = paths(tmp_path / "elsewhere")  # the data root is an argument, not the environment
    plan = FaultPlan(f"train.epoch:wait={go}", "aapl")
    out = run_job(
        job, NightlyConfig(jobs=[job], holdout_fraction=0.1), where=where, fault_plan=plan
    )
    assert out.status == Status.PROMOTED, out.reason
    assert reached(go)  # the epoch point fired inside the training
    assert ModelStore(where.models).champion(out.key) == out.challenger
    assert not (paths().models / out.key).exists()  # nothing under the environment's data root
