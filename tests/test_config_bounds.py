"""Issue 24, items 2, 8 and 9: configs are read bounded and validated strictly.

Every YAML a run reads (``--config``, ``configs/*.yaml``, a nightly config, a model's saved
config.yaml) goes through one bounded loader: an alias bomb, a document nested thousands deep, a
huge file or a mapping that names a key twice is one ConfigError line naming the file and the
limit, found before any Python object is built. Values are strict: a boolean is not a number, an
interval of ``0d`` is not a duration, a seed must fit numpy, a nightly job needs a name, and
interval levels are percent.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from forecaster.cli import cli
from forecaster.config import (
    BacktestConfig,
    DataConfig,
    ModelConfig,
    TrainConfig,
    load_config,
    read_yaml,
    validate_config,
)
from forecaster.errors import ConfigError
from forecaster.intervals import parse_levels
from forecaster.nightly.config import JobConfig, load_nightly


def bomb(levels: int = 9, width: int = 9) -> str:
    """The billion-laughs document: each anchor lists the previous one ``width`` times."""
    lines = ["a0: &a0 [x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + f"\nmodel:\n  calendar: *a{levels}\n"


def _one_line(exc: pytest.ExceptionInfo, *words: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 600, msg[:900]
    for word in words:
        assert word in msg, msg
    return msg


# -- item 2: bounded YAML ------------------------------------------------------------------------------
def test_an_alias_bomb_is_one_line_naming_the_file_and_the_limit(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb())
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    _one_line(exc, str(path), "more than 100,000 values once its aliases expand")


def test_a_small_bomb_never_prints_its_expanded_value(tmp_path):
    path = tmp_path / "small.yaml"  # under the limit: it reaches validation, which refuses it
    path.write_text(bomb(levels=3, width=8))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    _one_line(exc, "model.calendar")


@pytest.mark.parametrize("opener, closer", [("[", "]"), ("{a: ", "}")])
def test_a_config_nested_thousands_deep_is_one_line(tmp_path, opener, closer):
    path = tmp_path / "deep.yaml"
    path.write_text("model: " + opener * 5000 + "1" + closer * 5000 + "\n")
    with pytest.raises(ConfigError) as exc:
        read_yaml(path)
    _one_line(exc, str(path), "nested more than")


def test_a_block_config_nested_thousands_deep_is_one_line(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("".join(f"{' ' * i}k{i}:\n" for i in range(600)) + " " * 600 + "v\n")
    with pytest.raises(ConfigError) as exc:
        read_yaml(path)
    _one_line(exc, "nested more than")


def test_a_huge_config_file_is_refused_before_it_is_parsed(tmp_path):
    from forecaster import safe_yaml

    path = tmp_path / "huge.yaml"
    path.write_text("# " + "x" * (safe_yaml.MAX_BYTES + 10) + "\n")
    with pytest.raises(ConfigError) as exc:
        read_yaml(path)
    _one_line(exc, str(path), "larger than")


@pytest.mark.parametrize(
    "text, key",
    [
        ("model:\n  lookback: 10\nmodel:\n  horizon: 3\n", "model"),
        ("model:\n  lookback: 10\n  lookback: 20\n", "lookback"),
        ("{data: {target: a, target: b}}\n", "target"),
    ],
)
def test_a_key_given_twice_in_one_mapping_is_an_error(tmp_path, text, key):
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        read_yaml(path)
    _one_line(exc, str(path), f"'{key}' twice")


def test_anchors_merge_keys_and_ordinary_configs_still_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        "base: &base {max_epochs: 3, patience: 2}\n"
        "train:\n  <<: *base\n  max_epochs: 5\n"  # a merge key overridden: not a duplicate
    )
    assert read_yaml(path)["train"] == {"max_epochs": 5, "patience": 2}
    for name in ("default", "stocks_daily", "weather_hourly", "weather_daily"):
        load_config(name)
    load_nightly("nightly")


def test_the_nightly_config_is_bounded_too(tmp_path):
    path = tmp_path / "n.yaml"
    path.write_text(bomb().replace("model:\n  calendar:", "jobs:"))
    result = CliRunner().invoke(cli, ["retrain", "--config", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.count("\n") == 1 and "aliases expand" in result.stderr


def test_validation_errors_show_at_most_a_short_value():
    with pytest.raises(ConfigError) as exc:
        validate_config({"model": {"calendar": ["hour"] * 5000 + ["bogus"]}})
    _one_line(exc, "model.calendar")
    with pytest.raises(ConfigError) as exc:
        validate_config({"data": {"symbol": ["x" * 10_000]}})
    _one_line(exc, "data.symbol")


# -- item 8: strict values ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "section, values",
    [
        ("model", {"lookback": True}),
        ("model", {"dropout": False}),
        ("train", {"learning_rate": True}),
        ("train", {"max_epochs": True}),
        ("train", {"limit_train_batches": True}),
        ("data", {"max_gap": True}),
        ("backtest", {"season": True}),
        ("backtest", {"levels": [True, 95]}),
    ],
)
def test_a_boolean_is_not_a_number(section, values):
    with pytest.raises(ConfigError) as exc:
        validate_config({section: values})
    _one_line(exc, f"{section}.{next(iter(values))}")


def test_numbers_and_booleans_still_validate_where_they_belong():
    cfg = validate_config(
        {"model": {"lookback": 30, "dropout": 0, "bidirectional": False}, "train": {"seed": 0}}
    )
    assert cfg.model.dropout == 0.0 and cfg.model.bidirectional is False
    assert TrainConfig(learning_rate=1, limit_train_batches=0.5).learning_rate == 1.0


@pytest.mark.parametrize("interval", ["0d", "0h", "-1d", "1.5h", "d", "1 d", "7x", ""])
def test_an_interval_must_be_a_positive_duration(interval):
    with pytest.raises(ValueError, match="interval"):
        DataConfig(interval=interval)


@pytest.mark.parametrize("interval", ["1m", "15m", "90m", "1h", "1d", "5d", "1wk", "1mo", "3mo"])
def test_the_intervals_the_sources_know_still_validate(interval):
    assert DataConfig(interval=interval).interval == interval


@pytest.mark.parametrize("seed", [-1, 2**32, 10**30])
def test_a_seed_outside_numpys_range_is_a_config_error(seed):
    with pytest.raises(ConfigError) as exc:
        validate_config({"train": {"seed": seed}})
    _one_line(exc, "train.seed")
    assert TrainConfig(seed=2**32 - 1).seed == 2**32 - 1


@pytest.mark.parametrize("name", ["", "   ", "a\nb"])
def test_a_nightly_job_needs_a_printable_name(name):
    with pytest.raises(ValueError, match="name"):
        JobConfig(name=name, ticker="AAPL")


def test_a_nightly_boolean_timeout_is_an_error(tmp_path):
    path = tmp_path / "n.yaml"
    path.write_text(json.dumps({"lock_timeout": True, "jobs": [{"name": "a", "ticker": "AAPL"}]}))
    with pytest.raises(ConfigError) as exc:
        load_nightly(path)
    _one_line(exc, "lock_timeout")


# -- item 9: levels are percent --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "levels, suggestion", [("0.8,0.95", "80,95"), ("0.9", "90"), ([0.5], "50")]
)
def test_levels_that_look_like_fractions_suggest_percent(levels, suggestion):
    with pytest.raises(ConfigError) as exc:
        parse_levels(levels)
    _one_line(exc, "percent", suggestion)


def test_levels_in_percent_still_parse():
    assert parse_levels("50,80,95") == (50.0, 80.0, 95.0)
    assert parse_levels([1.5, 99.5]) == (1.5, 99.5)
    with pytest.raises(ValueError, match="80,95"):
        BacktestConfig(levels=[0.8, 0.95])
    assert ModelConfig().lookback == 60
