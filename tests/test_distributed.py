"""Multi-device training: a 2-process DDP fit on the CPU (gloo), as ``forecast fit --devices 2``.

The fit runs in a child process (``benchmarks/ddp_fit.py``, which Lightning starts once more for
rank 1); each rank records the window positions it drew in every epoch and the validation MAE it
logged. Real data: the first 900 AAPL trading days.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from lightning.pytorch.callbacks import Callback

from forecaster import api
from forecaster.cli import cli
from forecaster.config import TrainConfig
from forecaster.data.file_key import file_key_name
from forecaster.registry import ModelStore

PROBE = Path(__file__).resolve().parents[1] / "benchmarks" / "ddp_fit.py"
sys.path.insert(0, str(PROBE.parent))
from ddp_fit import TINY  # noqa: E402

EPOCHS = 2


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, aapl):
    """Run the 2-process fit once; (rank 0's record, rank 1's record, data root, csv)."""
    folder = tmp_path_factory.mktemp("ddp")
    csv = folder / "aapl.csv"
    aapl.frame.iloc[:900].tz_localize(None).to_csv(csv, index_label="time")
    root = folder / "home"
    env = os.environ | {"FORECASTER_HOME": str(root)}
    argv = [sys.executable, str(PROBE), "--out", str(folder / "out"), "--csv", str(csv)]
    done = subprocess.run(
        [*argv, "--devices", "2", "--epochs", str(EPOCHS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    ranks = [json.loads((folder / "out" / f"rank{r}.json").read_text()) for r in (0, 1)]
    return ranks[0], ranks[1], root, csv


def test_each_rank_draws_a_disjoint_equal_share_reshuffled_every_epoch(ddp_run):
    r0, r1, _, _ = ddp_run
    assert (r0["rank"], r1["rank"]) == (0, 1) and r0["world_size"] == r1["world_size"] == 2
    assert r0["pid"] != r1["pid"]
    n = r0["train_windows"]
    assert len(r0["epochs"]) == len(r1["epochs"]) == EPOCHS
    for mine, theirs in zip(r0["epochs"], r1["epochs"], strict=True):
        assert len(mine) == len(theirs) == n // 2  # equal shares (hence equal step counts)
        assert not set(mine) & set(theirs)  # disjoint
        assert len(set(mine) | set(theirs)) == n - n % 2  # together: the whole epoch
    assert r0["epochs"][0] != r0["epochs"][1]  # reshuffled
    assert r0["batches"] == r1["batches"]


def test_ranks_agree_on_validation_and_keep_the_same_epoch(ddp_run):
    r0, r1, _, _ = ddp_run
    assert len(r0["val_mae"]) == EPOCHS + 1  # epoch 0 (the anchor), then every epoch
    assert r0["val_mae"] == r1["val_mae"]  # summed over both shares, the same on both ranks
    assert r0["best_epoch"] == r1["best_epoch"]


def test_the_summed_validation_is_the_whole_split(ddp_run):
    """Epoch 0 is the untrained model (its anchor): one process over every validation window
    must measure what the two processes measured together."""
    r0, _, _, csv = ddp_run
    cfg = api.make_config(csv=str(csv), overrides=TINY | {"train.strategy": "auto"})
    seen = []

    class Record(Callback):
        def on_validation_end(self, trainer, pl_module) -> None:
            seen.append(float(trainer.callback_metrics["val_mae"]))

    api.fit_model(api.load_data(cfg), cfg, callbacks=[Record()], trainer_kwargs={"max_epochs": 1})
    assert seen[0] == pytest.approx(r0["val_mae"][0], rel=1e-6)


def test_only_rank_0_saves_one_version(ddp_run):
    r0, r1, root, csv = ddp_run
    assert r0["version"] and r1["version"] is None
    store, key = ModelStore(root / "models"), f"csv-{file_key_name(csv)}"
    (info,) = store.versions(key)
    assert info.version == r0["version"] and store.champion(key) == r0["version"]
    assert info.meta["distributed"]["world_size"] == 2


def test_device_settings_are_checked():
    with pytest.raises(ValueError, match="devices"):
        TrainConfig(devices=0)
    with pytest.raises(ValueError, match="strategy"):
        TrainConfig(strategy="ddp_spawn")  # its workers would train out of the callbacks' sight
    with pytest.raises(ValueError, match="accelerator"):
        TrainConfig(accelerator="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_device_set_up_lightning_refuses_is_one_line(ddp_run):
    _, _, _, csv = ddp_run
    argv = ["fit", "--csv", str(csv), "--target", "close", "--epochs", "1", "--no-progress"]
    result = CliRunner().invoke(cli, [*argv, "--accelerator", "gpu", "--devices", "2"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "accelerator=gpu, devices=2" in errors[0]
    assert "Traceback" not in result.output
