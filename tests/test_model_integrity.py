"""Issue 24, item 4: a saved version whose state is not finite is corrupt, never served.

NaN or infinity in model.pt, normalization.json or calibration.json, or a calibration for another
horizon, is a one-line ModelError at load that names ``forecast models rollback``; ``forecast
models promote`` loads a version before it switches to it. (And a model's config.yaml is read
with the bounded loader: an alias bomb there is one line too.)
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from test_config_bounds import bomb
from trained import install

from forecaster import api
from forecaster.cli import cli
from forecaster.errors import ModelError
from forecaster.fitted import FittedModel

KEY = "yahoo-AAPL-1d"


@pytest.fixture
def version(data_root):
    return install(api.store(), KEY)


def _edit_json(path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))  # json writes NaN and Infinity as such


def _poison_weights(path, value: float) -> None:
    state = torch.load(path, weights_only=True)
    name = next(k for k, t in state.items() if t.is_floating_point() and t.numel() > 1)
    state[name].view(-1)[0] = value
    torch.save(state, path)


def _nan_mean(doc):
    doc["mean"][0] = math.nan


def _inf_std(doc):
    doc["std"][-1] = math.inf


def _inf_residual(doc):
    doc["residuals"][0][0] = -math.inf


def _longer_horizon(doc):
    doc["residuals"].append(list(doc["residuals"][-1]))
    doc["horizon"] += 1


CORRUPTIONS = {
    "normalization.json NaN": ("normalization.json", _nan_mean),
    "normalization.json inf": ("normalization.json", _inf_std),
    "calibration.json -inf": ("calibration.json", _inf_residual),
    "calibration.json other horizon": ("calibration.json", _longer_horizon),
}


def _corrupt(folder, how: str) -> None:
    if how.startswith("model.pt"):
        _poison_weights(folder / "model.pt", math.nan if "NaN" in how else math.inf)
    else:
        name, change = CORRUPTIONS[how]
        _edit_json(folder / name, change)


HOW = [*CORRUPTIONS, "model.pt NaN", "model.pt inf"]


@pytest.mark.parametrize("how", HOW)
def test_a_version_that_is_not_finite_is_a_one_line_model_error(version, how):
    _corrupt(version.path, how)
    with pytest.raises(ModelError) as exc:
        FittedModel.load(version.path)
    msg = str(exc.value)
    assert "\n" not in msg and f"forecast models rollback {KEY}" in msg, msg
    assert how.split()[0] in msg, msg


def test_a_finite_version_still_loads_and_predicts(version):
    model = FittedModel.load(version.path)
    assert model.calibration is not None and model.calibration.horizon == model.horizon


@pytest.mark.parametrize("how", ["normalization.json NaN", "model.pt inf"])
def test_predict_with_a_corrupt_champion_exits_2_naming_rollback(version, how):
    _corrupt(version.path, how)
    result = CliRunner().invoke(cli, ["predict", "--ticker", "AAPL", "--offline"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stderr.count("\n") == 1
    assert "forecast models rollback" in result.stderr and "nan" not in result.stdout.lower()


def test_promote_loads_the_version_before_switching_to_it(version):
    st = api.store()
    bad = install(st, KEY, promote=False)
    _corrupt(bad.path, "calibration.json -inf")
    result = CliRunner().invoke(cli, ["models", "promote", KEY, bad.version])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "was not promoted" in result.stderr and "calibration.json" in result.stderr
    assert st.champion(KEY) == version.version
    good = install(st, KEY, promote=False)
    result = CliRunner().invoke(cli, ["models", "promote", KEY, good.version])
    assert result.exit_code == 0, result.output
    assert st.champion(KEY) == good.version


def test_a_config_yaml_alias_bomb_in_a_model_is_one_line(version):
    (version.path / "config.yaml").write_text(bomb())
    with pytest.raises(ModelError) as exc:
        FittedModel.load(version.path)
    assert "\n" not in str(exc.value) and "aliases expand" in str(exc.value)
