"""`forecast tune`: the search space and budget checks, the blocks, the keep-or-not rule, and studies
run end to end on a tiny network (resumed after Ctrl+C, blind to the test span, in worker
processes, and never touching the champion unless asked)."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest
import yaml
from click.testing import CliRunner

from forecaster import api
from forecaster.cli import cli
from forecaster.config import Config, load_config, override
from forecaster.data.splits import first_test_row
from forecaster.errors import ConfigError, DataError
from forecaster.resources import configs_dir
from forecaster.tuning import Budget, decide, parse_space, tune
from forecaster.tuning import objective as objective_mod
from forecaster.tuning.blocks import block_bounds, make_blocks, searchable
from forecaster.tuning.objective import BlockScore, hopeless
from forecaster.tuning.study import open_study, tuning_dir

TINY = {
    "data.offline": True,
    "data.start": "2011-01-01",
    "model.lookback": 10,
    "model.horizon": 3,
    "model.hidden_size": 4,
    "model.num_layers": 1,
    "train.max_epochs": 2,
    "train.patience": 2,
    "train.progress_bar": False,
}
SPACE = {
    "blocks": 2,
    "space": {
        "model.lookback": {"low": 5, "high": 15},
        "model.hidden_size": {"choices": [4, 6]},
        "train.learning_rate": {"low": 1e-3, "high": 1e-2, "log": True},
    },
}
CLI_TINY = ["--ticker", "AAPL", "--offline", "--start", "2011-01-01", "--lookback", "10"]
CLI_TINY += ["--horizon", "3", "--hidden-size", "4", "--layers", "1", "--epochs", "2"]


def tiny_cfg(**over) -> Config:
    return api.make_config(ticker="AAPL", overrides=TINY | over)


def run_cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    return result.output


# -- space and budget ---------------------------------------------------------------------------
def test_the_shipped_space_is_valid_for_every_shipped_config():
    raw = yaml.safe_load((configs_dir() / "tune.yaml").read_text())
    for name in ("default", "stocks_daily", "weather_daily", "weather_hourly"):
        space = parse_space(raw, load_config(name))
        assert space.blocks == 3 and space.get("model.lookback") is not None


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"space": {}}, "is empty"),
        ({"space": {"model.colour": {"low": 1, "high": 2}}}, "unknown parameter 'model.colour'"),
        ({"space": {"model.dropout": {"low": 0.1, "high": 1.5}}}, "high=1.5 is outside"),
        ({"space": {"model.num_layers": {"low": 0, "high": 3}}}, "low=0 is outside"),
        ({"space": {"train.batch_size": {"choices": [64, -1]}}}, "the choice -1 is outside"),
        ({"space": {"model.lookback": {"low": 50, "high": 10}}}, "low 50 is above high 10"),
        ({"space": {"model.lookback": {"low": 10.5, "high": 20}}}, "whole number"),
        ({"space": {"train.weight_decay": {"low": 0, "high": 1, "log": True}}}, "log scale"),
        ({"space": {"model.bidirectional": {"low": 0, "high": 1}}}, "takes choices"),
        ({"space": {"model.lookback": {"low": 5}}}, "high"),
        ({"blocks": 0, "space": {"model.lookback": {"low": 5, "high": 9}}}, "blocks"),
    ],
)
def test_a_bad_space_is_one_line_naming_the_parameter(space, message):
    with pytest.raises(ConfigError) as err:
        parse_space(space, Config())
    assert message in str(err.value) and "\n" not in str(err.value)


def test_choices_that_are_lists_round_trip_through_optuna():
    space = parse_space(
        {"space": {"model.calendar": {"choices": [None, [], ["dayofweek"]]}}}, Config()
    )
    (param,) = space.params
    assert param.labels() == [None, "[]", '["dayofweek"]']
    assert [param.value_of(x) for x in param.labels()] == [None, [], ["dayofweek"]]


@pytest.mark.parametrize(
    ("time", "trials", "seconds", "n"),
    [("10m", None, 600, None), ("1h30m", 5, 5400, 5), (None, 4, None, 4), (None, None, 600, None)],
)
def test_a_budget_is_a_time_and_or_a_trial_count(time, trials, seconds, n):
    assert Budget.parse(time, trials) == Budget(seconds, n)


@pytest.mark.parametrize(("time", "trials"), [("0", None), ("-5m", None), ("10x", None), (None, 0)])
def test_a_zero_negative_or_unreadable_budget_is_refused(time, trials):
    with pytest.raises(ConfigError):
        Budget.parse(time, trials)


# -- blocks and the decision ----------------------------------------------------------------------
def test_blocks_are_consecutive_and_end_where_the_searchable_rows_end():
    assert block_bounds(1000, 0.15, 3) == [(550, 700), (700, 850), (850, 1000)]
    with pytest.raises(DataError, match="fewer --blocks"):
        block_bounds(100, 0.3, 3)  # 10 rows of history before 3 blocks of 30


def test_the_search_stops_before_the_fits_test_span(aapl):
    cfg = tiny_cfg()
    rows, start = searchable(aapl, cfg.train)
    first = first_test_row(aapl.index, cfg.train.test_fraction)
    assert len(rows) == first and start == aapl.index[first]
    blocks = make_blocks(rows, cfg.train, 3)
    assert blocks[-1].end is None and blocks[0].history + 3 * blocks[0].rows == first


def _scores(losses: list[np.ndarray]) -> list[BlockScore]:
    return [
        BlockScore(j, float(x.mean()), 1.0, float(x.mean()), len(x), 1.0, 0.0, tuple(x))
        for j, x in enumerate(losses)
    ]


def test_the_tuned_settings_are_kept_only_when_significantly_better():
    rng = np.random.default_rng(0)
    base = [rng.uniform(0.5, 1.5, 200) for _ in range(3)]
    default = _scores(base)
    clear = decide(default, _scores([b * 0.8 for b in base]), 0.99, 5, trial=3)
    assert clear.keep and clear.trial == 3 and clear.p_value < 0.01
    noise = _scores([b + rng.normal(0, 0.3, 200) - 0.005 for b in base])
    assert not decide(default, noise, 0.99, 5, trial=4).keep
    worse = decide(default, _scores([b * 1.1 for b in base]), 0.0, 5, trial=5)
    assert not worse.keep and "no better" in worse.reason
    none = decide(default, None, 0.99, 5, pruned=4)
    assert not none.keep and "4 pruned" in none.reason


def test_a_trial_that_learned_nothing_goes_on_only_when_its_anchor_beats_the_default():
    def score(relative: float, anchor: float) -> BlockScore:
        return BlockScore(0, relative, anchor, 1.0, 10, 0.0, 0.0, ())

    assert hopeless([score(1.0, 1.0)], [0.9, 0.9])  # ships its anchor, no better than the default
    assert not hopeless([score(0.3, 0.3)], [0.9, 0.9])  # its anchor (seasonal naive) beats it
    assert not hopeless([score(0.95, 1.0)], [0.9, 0.9])  # it learned something: the median decides


# -- studies end to end -------------------------------------------------------------------------
def _space(cfg: Config):
    return parse_space(SPACE, cfg)


def test_an_interrupted_study_resumes_where_it_stopped(aapl, monkeypatch):
    """k trials, then Ctrl+C in the middle of a trial (every finished trial kept, the one it
    stopped failed), then a resumed run adds m more: k + 1 + m trials, numbered in order."""
    cfg = tiny_cfg()
    data = aapl.between("2011-01-01")
    first = tune(cfg, Budget(None, 2), space=_space(cfg), data=data)
    assert first.ran == 2 and not first.interrupted
    real, calls = objective_mod.score_block, []

    def ctrl_c_in_a_later_trial(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second block fit of this run: in trial 2 or trial 3
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(objective_mod, "score_block", ctrl_c_in_a_later_trial)
    stopped = tune(cfg, Budget(None, 5), space=_space(cfg), data=data)
    assert stopped.interrupted and stopped.decision is None and stopped.report_path is None
    finished = [t for t in stopped.trials if t.outcome.value != "failed"]
    k = len(finished)
    assert k >= 2 and [t.outcome.value for t in stopped.trials][k:] == ["failed"]
    monkeypatch.setattr(objective_mod, "score_block", real)
    resumed = tune(cfg, Budget(None, 2), space=_space(cfg), data=data)
    assert resumed.study == first.study == stopped.study
    assert [t.number for t in resumed.trials] == list(range(k + 1 + 2))
    assert [t.outcome.value for t in resumed.trials].count("failed") == 1
    assert resumed.trials[: k + 1] == stopped.trials  # nothing of the first runs changed
    assert resumed.ran == 2 and resumed.default == first.default  # the default scored once
    assert resumed.decision is not None and resumed.report_path.is_file()


def test_the_search_never_reads_the_test_span(aapl):
    """Corrupt every test row (NaN and absurd values): the study is the same, trial by trial."""
    cfg = tiny_cfg()
    data = aapl.between("2011-01-01")
    first = first_test_row(data.index, cfg.train.test_fraction)
    frame = data.frame.copy()
    frame.iloc[first:, :] = np.nan
    frame.iloc[first + 1 :: 2, :] = 1e12
    corrupt = data.with_frame(frame)
    space = _space(cfg)
    a = tune(cfg, Budget(None, 2), space=space, data=data)
    # a second data root: a fresh study, not a resumed one
    other = tuning_dir().parent.parent / "other"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORECASTER_HOME", str(other))
        b = tune(cfg, Budget(None, 2), space=space, data=corrupt)
    assert a.db != b.db and a.study == b.study
    assert a.default == b.default
    assert [(t.params, t.value, t.outcome) for t in a.trials] == [
        (t.params, t.value, t.outcome) for t in b.trials
    ]
    assert a.decision == b.decision


def test_workers_add_trials_to_one_study_side_by_side(aapl):
    cfg = tiny_cfg()
    data = aapl.between("2011-01-01")
    result = tune(cfg, Budget(None, 2), space=_space(cfg), data=data, workers=2)
    assert not result.interrupted
    assert 2 <= len(result.trials) <= 3  # each worker stops when the study has 2 (one may overrun)
    assert all(t.outcome.value in ("complete", "pruned") for t in result.trials)
    study = open_study(dataclasses.replace(_setup_of(result, cfg, data)), 0)
    assert len(study.trials) == len(result.trials)


def test_a_group_is_tuned_as_one_model_with_one_cut(aapl):
    """``--ticker AAPL,MSFT``: the members are cut at one instant, and every block scores both."""
    cfg = api.make_config(ticker="AAPL,MSFT", overrides=TINY)
    result = tune(cfg, Budget(None, 1), space=_space(cfg))
    assert result.key == "group-AAPL_MSFT-1d" and len(result.trials) == 1
    members = api.load_members(cfg)
    rows, start = searchable(members, cfg.train)
    assert all(
        m.index.max() < start <= full.index.max() for m, full in zip(rows, members, strict=True)
    )
    single = tune(tiny_cfg(), Budget(None, 1), space=_space(tiny_cfg()))
    assert all(g.windows > s.windows for g, s in zip(result.default, single.default, strict=True))


def _setup_of(result, cfg, data):
    from forecaster.tuning.study import Setup

    return Setup(result.key, result.study, result.db, cfg, result.space, data, result.blocks, 15)


def _kept_case() -> tuple[Config, dict]:
    """A default that cannot learn (a learning rate of 1e-7 keeps the anchor) and a space whose
    settings can: any gain over the default counts (confidence 0)."""
    cfg = tiny_cfg(**{"train.learning_rate": 1e-7, "train.confidence": 0.0, "train.max_epochs": 4})
    space = {"blocks": 2, "space": {"train.learning_rate": {"choices": [0.01]}}}
    return cfg, space


def test_tune_leaves_the_champion_alone_unless_asked(aapl, tmp_path):
    cfg, raw = _kept_case()
    data = aapl.between("2011-01-01")
    store = api.store()
    champion = api.fit(cfg, series=data).version.version
    key = api.store_key(cfg.data)
    result = tune(cfg, Budget(None, 1), space=parse_space(raw, cfg), data=data)
    assert result.decision.keep, result.decision.reason
    assert store.champion(key) == champion and len(store.versions(key)) == 1
    # --fit saves a model with the tuned config, and the champion still stays
    again = tune(cfg, Budget(None, 1), space=parse_space(raw, cfg), data=data, fit_tuned=True)
    assert again.fit is not None and not again.fit.promoted
    assert store.champion(key) == champion and len(store.versions(key)) == 2
    saved = load_config(again.config_path)
    assert saved.train.learning_rate == 0.01 and saved.data.offline is False
    assert saved.model_copy(update={"name": cfg.name}) == override(
        cfg, {"train.learning_rate": 0.01, "data.offline": False}
    )


def test_the_cli_runs_a_study_and_prints_the_tuned_config(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    out = run_cli("tune", *CLI_TINY, "--trials", "2", "--space", str(space))
    assert "Study yahoo-AAPL-1d-" in out and "trials: 2 (" in out
    assert ("Tuned config: " in out) != ("The default stays: " in out)
    assert "Report: " in out
    assert not (api.store().root / "yahoo-AAPL-1d").exists()  # no model saved


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time", "0"], "no time at all"),
        (["--time", "-5m"], "negative"),
        (["--trials", "0"], "runs nothing"),
        (["--workers", "0"], "runs nothing"),
        (["--promote", "always"], "add --fit"),
        (["--space", "no-such-space"], "not found"),
        (["--blocks", "0"], "blocks"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(args, message):
    out = run_cli("tune", *CLI_TINY, *args, code=2)
    assert (
        message in out and out.strip().startswith("error:") and len(out.strip().splitlines()) == 1
    )


def test_a_space_outside_the_valid_range_is_refused_before_any_fit(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("space:\n  model.dropout: {low: 0.0, high: 2.0}\n")
    out = run_cli("tune", *CLI_TINY, "--space", str(space), code=2)
    assert "model.dropout: high=2 is outside" in out
    assert not tuning_dir().exists()


def test_a_budget_too_small_for_one_trial_says_how_much_is_needed(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    out = run_cli("tune", *CLI_TINY, "--space", str(space), "--time", "0.01s", code=2)
    assert "too small for one trial" in out and "give --time" in out
    study = optuna.load_study(
        study_name=optuna.get_all_study_names(f"sqlite:///{tuning_dir() / 'yahoo-AAPL-1d.db'}")[0],
        storage=f"sqlite:///{tuning_dir() / 'yahoo-AAPL-1d.db'}",
    )
    assert "default" in study.user_attrs and not study.trials  # the default's scores are kept
