"""Issue 24, item 3: two files with the same name never share a model.

The store key of a file-backed series carries a short hash of the file's resolved path
(``csv-sales~1a2b3c4d``), so ``predict --csv other/sales.csv`` never serves the champion trained on
``mine/sales.csv``. A model saved under the old key (``csv-sales``, before keys told files apart)
is not served to a file silently either: the error names it and how to choose it explicitly
(``--model <folder>``), which serves it.
"""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from forecaster import api
from forecaster.cli import cli
from forecaster.config import DataConfig
from forecaster.data import loader

TINY = ["--lookback", "10", "--horizon", "3", "--hidden-size", "8", "--layers", "1"]
TINY += ["--epochs", "1", "--no-progress"]


def sales_csv(path, scale: float = 1.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    idx = pd.date_range("2024-01-01", periods=120, freq="D")
    values = (100 + 10 * np.sin(np.arange(120) / 7)) * scale
    pd.DataFrame({"time": idx.strftime("%Y-%m-%d"), "sales": values}).to_csv(path, index=False)
    return path


def key_of(path) -> str:
    return loader.series_key(DataConfig(source="csv", path=path))


def run(*args, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def test_files_with_one_name_in_two_folders_have_two_keys(tmp_path):
    mine, other = key_of(tmp_path / "mine" / "sales.csv"), key_of(tmp_path / "other" / "sales.csv")
    assert mine != other
    assert re.fullmatch(r"csv-sales~[0-9a-f]{8}", mine), mine


def test_one_file_has_one_key_however_it_is_named(tmp_path, monkeypatch):
    path = sales_csv(tmp_path / "mine" / "sales.csv")
    os.symlink(path, tmp_path / "link.csv")
    monkeypatch.chdir(tmp_path)
    assert key_of(path) == key_of("mine/sales.csv") == key_of("mine/../mine/sales.csv")
    assert key_of(tmp_path / "link.csv") == key_of(path)  # a link leads to the same file


def test_predict_on_another_file_of_the_same_name_is_not_served_the_first_ones_model(tmp_path):
    mine = sales_csv(tmp_path / "mine" / "sales.csv")
    other = sales_csv(tmp_path / "other" / "sales.csv", scale=10)
    run("fit", "--csv", str(mine), *TINY)
    failed = run("predict", "--csv", str(other), code=2)
    assert failed.stderr.count("\n") == 1 and "no saved model" in failed.stderr
    assert key_of(other) in failed.stderr
    out = run("predict", "--csv", str(mine)).output
    assert key_of(mine) in out


def test_a_model_under_the_old_key_is_named_not_served(tmp_path, data_root):
    mine = sales_csv(tmp_path / "mine" / "sales.csv")
    run("fit", "--csv", str(mine), *TINY)
    new = data_root / "models" / key_of(mine)
    shutil.move(new, data_root / "models" / "csv-sales")  # as a version saved before the fix
    failed = run("predict", "--csv", str(mine), code=2)
    msg = failed.stderr
    assert failed.stderr.count("\n") == 1 and "csv-sales" in msg and "--model" in msg, msg
    folder = re.search(r"--model (\S+)", msg).group(1)
    served = run("predict", "--csv", str(mine), "--model", folder).output  # the user's choice
    assert f"model {os.path.basename(folder)}: last observation" in served
    assert api.store().champion("csv-sales") is not None


@pytest.mark.parametrize("stem", ["my prices", "my_prices"])
def test_keys_of_unsafe_names_stay_distinct_and_safe(tmp_path, stem):
    key = key_of(tmp_path / f"{stem}.csv")
    assert re.fullmatch(r"csv-my_prices~[0-9a-f]{8}", key), key
    assert key_of(tmp_path / "my prices.csv") != key_of(tmp_path / "my_prices.csv")
