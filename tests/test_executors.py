"""The nightly run on worker processes and on a local Ray cluster: the serial run's outcomes, a
job that fails and a worker killed mid-job reported while the others complete, nothing half-written.

Real data: AAPL, MSFT, IBM and GOOG from the bundled stocks snapshot, written to CSV files as a
nightly export would be (900 rows on night 1, five more on night 2; IBM gets none). Night 1 runs
once, serially, into a template data root; two champions are then made poor, so night 2 has
promotions, a kept challenger, a skip and a failure to agree on. Each executor runs night 2 on its
own copy of the template. Ray starts once for this module (``num_cpus=2``, no dashboard, no usage
stats) and is shut down after.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from forecaster import executors
from forecaster.cli import cli
from forecaster.data.file_key import file_key_name
from forecaster.errors import ConfigError
from forecaster.fitted import FittedModel
from forecaster.nightly.config import JobConfig, NightlyConfig
from forecaster.nightly.run import retrain
from forecaster.registry import ModelStore
from forecaster.resources import snapshots_dir

TINY = {
    "data.target": "close",
    "model.lookback": 20,
    "model.horizon": 5,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "train.max_epochs": 2,
    "train.batch_size": 64,
    "train.logger": "none",
}
TICKERS = ("AAPL", "MSFT", "IBM", "GOOG")
TICKERS_LOWER = [t.lower() for t in TICKERS]
NIGHT1, NEW_ROWS = 900, 5
POOR = ("aapl", "goog")  # night-1 champions made poor: their night-2 challengers are promoted
KILLED = "victim"  # a copy of AAPL whose worker is SIGKILLed mid-save on night 2
COMMON = ["aapl", "msft", "ibm", "goog", "broken"]
NEEDED = ("model.pt", "config.yaml", "meta.json", "normalization.json")


def _write_csv(folder: Path, ticker: str, rows: int, name: str | None = None) -> Path:
    frame = pd.read_csv(snapshots_dir() / "stocks_daily.csv")
    frame = frame[frame["Ticker"] == ticker].iloc[:rows][["Date", "Close"]]
    path = folder / f"{(name or ticker).lower()}.csv"
    frame.rename(columns={"Date": "time", "Close": "close"}).to_csv(path, index=False)
    return path


def _nightly(folder: Path) -> NightlyConfig:
    jobs = [
        JobConfig(name=t.lower(), csv=str(folder / f"{t.lower()}.csv"), overrides=TINY)
        for t in TICKERS
    ]
    jobs.append(JobConfig(name="broken", csv=str(folder / "missing.csv"), overrides=TINY))
    jobs.append(JobConfig(name=KILLED, csv=str(folder / f"{KILLED}.csv"), overrides=TINY))
    return NightlyConfig(
        jobs=jobs, holdout_fraction=0.1, max_holdout_origins=60, require_beat_baseline=False
    )


def _make_poor(store: ModelStore, key: str) -> None:
    """Promote a noisy copy of the champion, so tonight's challenger surely beats it."""
    model = FittedModel.load(store.resolve(key).path, weights="procedure")  # what is scored
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        model.module.blend.fill_(1.0)
        for p in model.module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 5.0)
    store.promote(key, store.save(key, model.save).version, reason="test: a poor champion")


@pytest.fixture(scope="module")
def night1(tmp_path_factory):
    """(folder with night-2 CSVs and nightly.yaml, template data root after night 1)."""
    folder = tmp_path_factory.mktemp("executors")
    template = folder / "template"
    for t in TICKERS:
        _write_csv(folder, t, NIGHT1)
    _write_csv(folder, "AAPL", NIGHT1, KILLED)
    nightly = _nightly(folder)
    with pytest.MonkeyPatch.context() as m:
        m.setenv("FORECASTER_HOME", str(template))
        first = retrain(nightly, only=[*TICKERS_LOWER, KILLED])
        assert {o.status for o in first.outcomes} == {"promoted"}, first.to_text()
        store = ModelStore(template / "models")
        for name in POOR:
            _make_poor(store, f"csv-{file_key_name(folder / f'{name}.csv')}")
    for t in TICKERS:  # night 2: five new rows, except for IBM
        _write_csv(folder, t, NIGHT1 if t == "IBM" else NIGHT1 + NEW_ROWS)
    _write_csv(folder, "AAPL", NIGHT1 + NEW_ROWS, KILLED)
    (folder / "nightly.yaml").write_text(json.dumps(nightly.model_dump(mode="json")))
    return folder, template


def _root(night1, name: str) -> Path:
    folder, template = night1
    root = folder / name
    shutil.copytree(template, root, ignore=shutil.ignore_patterns("runs"))
    return root


@pytest.fixture(scope="module")
def serial_night2(night1):
    """The reference: night 2 run one job after another in this process."""
    folder, _ = night1
    root = _root(night1, "serial")
    with pytest.MonkeyPatch.context() as m:
        m.setenv("FORECASTER_HOME", str(root))
        summary = retrain(_nightly(folder), only=COMMON)
    status = {o.job: o.status for o in summary.outcomes}
    # the scenario: promotions, a kept challenger, a skip and a failure
    assert status == {
        "aapl": "promoted",
        "goog": "promoted",
        "msft": "kept",
        "ibm": "skipped",
        "broken": "failed",
    }, summary.to_text()
    return {o.job: o for o in summary.outcomes}


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster for this module: 2 CPUs, no dashboard, no usage statistics. (Ray talks
    to its own processes from C++, so Python's sockets stay blocked, as in every test.)"""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def _leftovers(root: Path, key: str) -> list[str]:
    sdir = root / "models" / key
    return sorted(p.name for p in sdir.rglob(".*") if p.name != ".lock") if sdir.is_dir() else []


def _incomplete(root: Path, key: str) -> list[str]:
    vdir = root / "models" / key / "versions"
    return [
        p.name
        for p in (vdir.iterdir() if vdir.is_dir() else [])
        if not p.name.startswith(".") and not all((p / f).is_file() for f in NEEDED)
    ]


@pytest.mark.parametrize("executor", ["process", "ray"])
def test_executor_gives_the_serial_outcomes_and_survives_a_killed_worker(
    executor, night1, serial_night2, request, monkeypatch
):
    if executor == "ray":
        request.getfixturevalue("ray_cluster")
    folder, template = night1
    root = _root(night1, executor)
    monkeypatch.setenv("FORECASTER_HOME", str(root))
    # the victim's worker SIGKILLs itself with its model written but not yet renamed into place
    monkeypatch.setenv("FORECASTER_FAULT", "store.save.written")
    monkeypatch.setenv("FORECASTER_FAULT_JOB", KILLED)
    argv = ["retrain", "--config", str(folder / "nightly.yaml"), "--executor", executor]
    result = CliRunner().invoke(cli, [*argv, "--workers", "2"])
    assert result.exit_code == 1, result.output  # two jobs failed
    (summary_file,) = (root / "runs").rglob("retrain-*.json")
    summary = json.loads(summary_file.read_text())
    assert summary["executor"].startswith(executor)
    got = {o["job"]: o for o in summary["outcomes"]}
    assert list(got) == [*COMMON, KILLED]  # in the config's order, however they finished

    for name in COMMON:  # what the serial run decided, on the same data and seeds
        mine, ref = got[name], serial_night2[name]
        assert (mine["status"], mine["key"]) == (ref.status, ref.key), name
        assert mine["scores"] == pytest.approx(ref.scores, rel=1e-6), name
        assert (mine["champion_after"] == mine["challenger"]) == (
            ref.champion_after == ref.challenger
        )
    workers = {o["worker"] for o in got.values() if o["job"] != KILLED}
    pids = {int(re.search(r"pid (\d+)", w).group(1)) for w in workers}
    assert os.getpid() not in pids  # none ran in this process
    assert all("1 thread(s)" in w for w in workers)  # 2 cores // 2 workers
    if executor == "ray":
        assert all("ray node" in w for w in workers)
    assert "1 thread(s)" in result.output and " s on " in result.output

    victim = got[KILLED]
    assert victim["status"] == "failed" and "died before the job finished" in victim["reason"]
    key = victim["key"]
    champion = ModelStore(template / "models").champion(key)
    store = ModelStore(root / "models")
    assert store.champion(key) == champion  # the last good model survived
    FittedModel.load(store.resolve(key).path)  # and loads
    assert _incomplete(root, key) == []  # nothing half-written is visible
    assert _leftovers(root, key)  # the dead worker left its temporary folder ...

    monkeypatch.delenv("FORECASTER_FAULT")
    (again,) = retrain(_nightly(folder), only=[KILLED]).outcomes
    assert again.status in ("promoted", "kept"), again.reason
    assert _leftovers(root, key) == [] and _incomplete(root, key) == []  # ... the next run cleared


def test_threads_per_worker_share_the_cores():
    assert executors.threads_per_worker(2, 2) == 1
    assert executors.threads_per_worker(3, 16) == 5
    assert executors.threads_per_worker(32, 16) == 1


def test_missing_ray_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    nightly = tmp_path / "n.yaml"
    nightly.write_text(json.dumps({"jobs": [{"name": "a", "csv": "a.csv"}]}))
    result = CliRunner().invoke(cli, ["retrain", "--config", str(nightly), "--executor", "ray"])
    assert result.exit_code == 2
    assert "pip install 'forecaster[ray]'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "home" / "runs").exists()  # refused before anything started


def test_executor_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="for the Ray executor"):
        executors.Plan("process", 2, "auto")
    nightly = tmp_path / "n.yaml"
    nightly.write_text(json.dumps({"executor": "threads", "jobs": [{"name": "a", "csv": "a"}]}))
    result = CliRunner().invoke(cli, ["retrain", "--config", str(nightly)])
    assert result.exit_code == 2 and "executor" in result.output
    result = CliRunner().invoke(cli, ["retrain", "--config", str(nightly), "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output


def test_ctrl_c_stops_the_workers_and_writes_the_summary(night1, tmp_path):
    """SIGINT to the run's process group, as a terminal's Ctrl+C: the jobs on a worker are
    ``interrupted``, the rest ``not run``, the summary is written, exit 130, no lock left held."""
    folder, _ = night1
    root = _root(night1, "ctrl-c")
    go = tmp_path / "go"
    env = os.environ | {
        "FORECASTER_HOME": str(root),
        "FORECASTER_FAULT": f"train.epoch:wait={go}",  # the job pauses in its first epoch
        "FORECASTER_FAULT_JOB": "aapl",
    }
    forecast = Path(sys.executable).with_name("forecast")
    argv = [str(forecast), "retrain", "--config", str(folder / "nightly.yaml")]
    proc = subprocess.Popen(
        [*argv, "--executor", "process", "--workers", "1", "--force"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    reached = Path(f"{go}.reached")
    deadline = time.monotonic() + 120
    while not reached.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert reached.exists(), proc.communicate(timeout=60)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (summary_file,) = (root / "runs").rglob("retrain-*.json")
    summary = json.loads(summary_file.read_text())
    assert summary["interrupted"] is True
    status = [(o["job"], o["status"]) for o in summary["outcomes"]]
    assert status == [("aapl", "interrupted")] + [(j, "not run") for j in COMMON[1:] + [KILLED]]
    from filelock import FileLock

    for lock in (root / "locks").glob("*.lock"):
        FileLock(str(lock), timeout=0).acquire()  # released


def test_a_multi_device_job_is_refused_in_one_line(tmp_path):
    """DDP would start the whole night again once per device: the job fails, the others run."""
    csv = _write_csv(tmp_path, "AAPL", NIGHT1)
    ddp = JobConfig(name="ddp", csv=str(csv), overrides=TINY | {"train.devices": 2})
    summary = retrain(NightlyConfig(jobs=[ddp]), dry_run=True)
    (out,) = summary.outcomes
    assert out.status == "failed" and "multi-device training" in out.reason
    assert "--executor" in out.reason and "\n" not in out.reason
