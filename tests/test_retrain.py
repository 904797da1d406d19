"""Nightly retraining: new data, champion/challenger decisions, idempotence, locks, crash safety.

The data is the real AAPL snapshot written to a CSV file cut at day T, then extended to T+5 —
exactly what a nightly job sees when a week of new rows arrives. Models are tiny so a night takes
seconds.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from filelock import FileLock

from forecaster import api, fitting
from forecaster.backtest.baselines import BASELINES
from forecaster.backtest.engine import run_backtest
from forecaster.cli import cli
from forecaster.data.file_key import file_key_name
from forecaster.fitted import FittedModel
from forecaster.nightly.config import JobConfig, NightlyConfig, load_nightly
from forecaster.nightly.job import run_job
from forecaster.nightly.run import retrain
from forecaster.settings import paths

TINY = {
    "model.lookback": 20,
    "model.horizon": 5,
    "model.hidden_size": 8,
    "model.num_layers": 1,
    "train.max_epochs": 2,
    "train.batch_size": 64,
    "train.logger": "none",
}
CUT = 900  # rows in the first night's file
REAL_FIT_MODEL = api.fit_model


@pytest.fixture
def csv_file(tmp_path, aapl):
    """Write AAPL rows [0, n) to a CSV, like a nightly export that grows."""
    path = tmp_path / "aapl.csv"

    def write(n: int):
        frame = aapl.frame.iloc[:n].tz_localize(None)
        frame.to_csv(path, index_label="time")
        return path

    write(CUT)
    return write


def nightly(path, **policy) -> NightlyConfig:
    job = JobConfig(name="aapl", csv=str(path), overrides={**TINY, "data.target": "close"})
    return NightlyConfig(jobs=[job], **({"holdout_fraction": 0.1, "keep_versions": 3} | policy))


def test_two_nights_with_new_rows_train_and_decide(csv_file):
    cfg = nightly(csv_file(CUT))
    first = retrain(cfg)
    (o1,) = first.outcomes
    assert o1.status == "promoted" and o1.reason.startswith("no champion yet")
    assert o1.champion_after == o1.challenger

    csv_file(CUT + 5)  # five new trading days arrive
    second = retrain(cfg)
    (o2,) = second.outcomes
    assert o2.status in ("promoted", "kept"), o2.reason
    assert o2.challenger and o2.challenger != o1.challenger
    assert {"challenger_mae", "champion_mae", "naive_mae"} <= set(o2.scores)
    assert o2.scores["holdout_origins"] > 10
    expected = o2.challenger if o2.status == "promoted" else o1.challenger
    assert api.store().champion(o2.key) == expected

    summary = json.loads((paths().root / second.files["json"]).read_text())
    assert summary["ok"] is True
    assert summary["outcomes"][0]["status"] == o2.status
    assert "aapl" in (paths().root / second.files["text"]).read_text()


def test_no_new_data_is_skipped_and_exit_zero(csv_file, tmp_path):
    cfg = nightly(csv_file(CUT))
    retrain(cfg)
    (again,) = retrain(cfg).outcomes
    assert again.status == "skipped" and "no new data" in again.reason
    # --force trains anyway
    (forced,) = retrain(cfg, force=True).outcomes
    assert forced.status in ("promoted", "kept")

    yaml_path = tmp_path / "nightly.yaml"
    yaml_path.write_text(json.dumps(cfg.model_dump(mode="json")))  # JSON is valid YAML
    result = CliRunner().invoke(cli, ["retrain", "--config", str(yaml_path)])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output


def test_the_holdout_scores_with_the_jobs_own_backtest_settings(csv_file):
    """The job's backtest settings (Ridge lags, moving-average window, season) reach the promotion
    decision: the holdout's baselines score as in a backtest with the job's own config."""
    own = {"backtest.ridge_lags": 7, "backtest.moving_average": 4, "backtest.season": 3}
    overrides = {**TINY, "data.target": "close", **own}
    job = JobConfig(name="aapl", csv=str(csv_file(CUT)), overrides=overrides)
    (out,) = retrain(
        NightlyConfig(jobs=[job], holdout_fraction=0.1, max_holdout_origins=40)
    ).outcomes
    assert out.status == "promoted", out.reason

    job_cfg = api.make_config(csv=str(csv_file(CUT)), overrides=overrides)
    series = api.load_data(job_cfg)
    own_cfg = job_cfg.backtest.model_copy(update={"max_origins": 40})
    ref = run_backtest(series, cfg=own_cfg, horizon=5, test_fraction=0.1, baselines=BASELINES)
    assert out.scores["holdout_origins"] == ref.n_origins == 40
    for name in BASELINES:
        assert out.scores[f"{name}_mae"] == pytest.approx(ref.metrics.loc[name, "mae"], rel=1e-9)


def test_dry_run_trains_nothing(csv_file):
    (o,) = retrain(nightly(csv_file(CUT)), dry_run=True).outcomes
    assert o.status == "would-train"
    assert api.store().versions(o.key) == []


def _sabotage(monkeypatch, how):
    """Make the next challenger worse (or NaN) than anything a real fit would produce."""

    def fit_model(series, cfg, **kw):
        fitted = REAL_FIT_MODEL(series, cfg, **kw)
        with torch.no_grad():
            fitted.module.blend.fill_(1.0)  # the whole (sabotaged) correction, not the anchor
            for p in fitted.module.parameters():
                how(p)
        return replace(fitted, procedure_state=None)  # the holdout scores these weights too

    monkeypatch.setattr(fitting, "fit_model", fit_model)  # what api.fit trains with


def test_worse_challenger_is_not_promoted(csv_file, monkeypatch):
    cfg = nightly(csv_file(CUT))
    (o1,) = retrain(cfg).outcomes
    csv_file(CUT + 5)
    gen = torch.Generator().manual_seed(0)
    _sabotage(monkeypatch, lambda p: p.add_(torch.randn(p.shape, generator=gen) * 5.0))
    (o2,) = retrain(cfg).outcomes
    assert o2.status == "kept", o2.reason
    assert o2.scores["challenger_mae"] > o2.scores["champion_mae"]
    assert api.store().champion(o2.key) == o1.challenger


@pytest.mark.parametrize("require", [True, False])
def test_challenger_that_loses_to_a_baseline_is_not_promoted(csv_file, monkeypatch, require):
    """Better than a bad champion, worse than the best baseline: kept, and the reason names it."""
    cfg = nightly(csv_file(CUT), require_beat_baseline=require)
    gen = torch.Generator().manual_seed(0)
    _sabotage(monkeypatch, lambda p: p.add_(torch.randn(p.shape, generator=gen) * 5.0))
    (o1,) = retrain(cfg).outcomes  # no champion yet: promoted, however bad
    assert o1.status == "promoted" and "does not beat the best baseline" in o1.reason
    csv_file(CUT + 5)
    _sabotage(monkeypatch, lambda p: p.add_(torch.randn(p.shape, generator=gen) * 0.05))
    (o2,) = retrain(cfg).outcomes
    baselines = {k: v for k, v in o2.scores.items() if k not in ("challenger_mae", "champion_mae")}
    baselines.pop("holdout_origins")
    best = min(baselines, key=baselines.get)
    # the scenario: the challenger beats the champion but not the best baseline
    assert baselines[best] < o2.scores["challenger_mae"] < o2.scores["champion_mae"]
    if require:
        assert o2.status == "kept", o2.reason
        assert f"does not beat the best baseline {best.removesuffix('_mae')}" in o2.reason
        assert api.store().champion(o2.key) == o1.challenger
    else:
        assert o2.status == "promoted", o2.reason


def test_nan_challenger_is_rejected(csv_file, monkeypatch):
    cfg = nightly(csv_file(CUT))
    (o1,) = retrain(cfg).outcomes
    csv_file(CUT + 5)
    _sabotage(monkeypatch, lambda p: p.fill_(float("nan")))
    (o2,) = retrain(cfg).outcomes
    assert o2.status == "kept" and "non-finite" in o2.reason
    assert api.store().champion(o2.key) == o1.challenger


def test_concurrent_run_on_same_job_is_refused(csv_file):
    cfg = nightly(csv_file(CUT))
    key = "csv-" + file_key_name(csv_file(CUT))
    lock_path = paths().locks / f"{key}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path)):
        outcome = run_job(cfg.jobs[0], cfg)
    assert outcome.key == key
    assert outcome.status == "locked"
    assert "being retrained by another run" in outcome.reason
    assert api.store().versions(key) == []
    # once the other run is done, the job runs
    assert run_job(cfg.jobs[0], cfg).status == "promoted"


def test_failure_while_writing_keeps_champion_and_next_run_recovers(csv_file, monkeypatch):
    cfg = nightly(csv_file(CUT))
    (o1,) = retrain(cfg).outcomes
    champion_dir = api.store().resolve(o1.key).path
    series = api.load_data(
        api.make_config(csv=str(csv_file(CUT)), overrides={**TINY, "data.target": "close"})
    )
    before = FittedModel.load(champion_dir).predict(series)

    real_save = FittedModel.save

    def torn_save(self, directory):
        (directory / "model.pt").write_bytes(b"half a model")
        raise OSError("disk full")

    csv_file(CUT + 5)
    monkeypatch.setattr(FittedModel, "save", torn_save)
    summary = retrain(cfg)
    (o2,) = summary.outcomes
    assert o2.status == "failed" and "disk full" in o2.reason
    assert summary.failed
    assert api.store().champion(o1.key) == o1.challenger
    after = FittedModel.load(champion_dir).predict(series)
    np.testing.assert_array_equal(before.to_numpy(), after.to_numpy())

    monkeypatch.setattr(FittedModel, "save", real_save)
    (o3,) = retrain(cfg).outcomes
    assert o3.status in ("promoted", "kept")
    leftovers = list((paths().models / o1.key / "versions").glob(".*"))
    assert leftovers == []


def test_one_failing_job_does_not_stop_the_others(csv_file, tmp_path):
    good = JobConfig(
        name="aapl", csv=str(csv_file(CUT)), overrides={**TINY, "data.target": "close"}
    )
    bad = JobConfig(name="broken", csv=str(tmp_path / "missing.csv"), overrides=TINY)
    cfg = NightlyConfig(jobs=[bad, good], holdout_fraction=0.1)
    summary = retrain(cfg)
    status = {o.job: o.status for o in summary.outcomes}
    assert status == {"broken": "failed", "aapl": "promoted"}
    assert "missing.csv" in summary.outcomes[0].reason

    yaml_path = tmp_path / "nightly.yaml"
    yaml_path.write_text(json.dumps(cfg.model_dump(mode="json")))
    result = CliRunner().invoke(cli, ["retrain", "--config", str(yaml_path), "--force"])
    assert result.exit_code == 1
    assert "FAILED: broken" in result.output


def test_bad_nightly_config_is_one_line(tmp_path):
    path = tmp_path / "n.yaml"
    path.write_text("metric: mae\njobs:\n  - name: a\n    ticker: AAPL\n    bogus: 1\n")
    result = CliRunner().invoke(cli, ["retrain", "--config", str(path)])
    assert result.exit_code == 2
    assert "unknown key 'jobs.0.bogus'" in result.output
    assert "Traceback" not in result.output
    assert load_nightly("nightly").jobs  # the shipped config is valid


def test_held_job_lock_exits_4_from_the_cli(csv_file, tmp_path):
    cfg = nightly(csv_file(CUT))
    yaml_path = tmp_path / "nightly.yaml"
    yaml_path.write_text(json.dumps(cfg.model_dump(mode="json")))
    lock_path = paths().locks / f"csv-{file_key_name(csv_file(CUT))}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path)):
        result = CliRunner().invoke(cli, ["retrain", "--config", str(yaml_path)])
    assert result.exit_code == 4, result.output
    assert "locked" in result.output and "Traceback" not in result.output


def test_a_promote_made_during_training_is_not_overwritten(csv_file, monkeypatch):
    # the challenger only has to beat the (poor) champion: this is about the switch, not baselines
    cfg = nightly(csv_file(CUT), require_beat_baseline=False)
    gen = torch.Generator().manual_seed(0)
    with monkeypatch.context() as m:
        _sabotage(m, lambda p: p.add_(torch.randn(p.shape, generator=gen) * 5.0))
        (o1,) = retrain(cfg).outcomes  # a poor first champion: any real challenger beats it
    job_cfg = api.make_config(csv=str(csv_file(CUT)), overrides={**TINY, "data.target": "close"})
    manual = api.fit(job_cfg, promote="never").version.version

    real_fit = api.fit

    def fit_while_someone_promotes(*args, **kw):
        result = real_fit(*args, **kw)
        api.store().promote(o1.key, manual, reason="manual")  # `forecast models promote`
        return result

    csv_file(CUT + 5)
    with monkeypatch.context() as m:
        m.setattr(api, "fit", fit_while_someone_promotes)
        summary = retrain(cfg)
    (o2,) = summary.outcomes
    assert o2.status == "kept", o2.reason
    assert o2.scores["challenger_mae"] < o2.scores["champion_mae"]  # it would have been promoted
    assert f"switched to {manual}" in o2.reason and "not promoted" in o2.reason
    assert api.store().champion(o1.key) == manual == o2.champion_after
    assert o2.challenger in {v.version for v in api.store().versions(o1.key)}  # nothing lost
    assert "switched to" in (paths().root / summary.files["text"]).read_text()
    # the next night scores the challenger against the new champion instead of skipping
    (o3,) = retrain(cfg).outcomes
    assert o3.status in ("promoted", "kept") and o3.champion_before == manual


def test_a_kept_challenger_is_not_retrained_on_the_same_data(csv_file, monkeypatch, tmp_path):
    cfg = nightly(csv_file(CUT))
    (o1,) = retrain(cfg).outcomes
    csv_file(CUT + 5)
    _sabotage(monkeypatch, lambda p: p.mul_(0.0).add_(3.0))  # every challenger loses
    (o2,) = retrain(cfg).outcomes
    assert o2.status == "kept", o2.reason
    n_versions = len(api.store().versions(o1.key))

    (o3,) = retrain(cfg).outcomes  # the same data again: no new, identical challenger
    assert o3.status == "skipped", o3.reason
    assert "nothing new since the last attempt" in o3.reason and o2.challenger in o3.reason
    assert len(api.store().versions(o1.key)) == n_versions
    (dry,) = retrain(cfg, dry_run=True).outcomes
    assert dry.status == "skipped"

    changed = nightly(csv_file(CUT + 5), margin=0.5)  # a new policy is a new attempt
    assert retrain(changed).outcomes[0].status == "kept"
    assert retrain(cfg, force=True).outcomes[0].status == "kept"
    csv_file(CUT + 10)  # new rows: train again
    assert retrain(cfg).outcomes[0].status in ("kept", "promoted")


def test_ctrl_c_writes_the_summary_and_exits_130(csv_file, monkeypatch, tmp_path):
    first = JobConfig(name="a", csv=str(csv_file(CUT)), overrides={**TINY, "data.target": "close"})
    second = JobConfig(name="b", csv=str(csv_file(CUT)), overrides=TINY)
    cfg = NightlyConfig(jobs=[first, second], holdout_fraction=0.1)
    yaml_path = tmp_path / "nightly.yaml"
    yaml_path.write_text(json.dumps(cfg.model_dump(mode="json")))

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "fit", interrupted)
    result = CliRunner().invoke(cli, ["retrain", "--config", str(yaml_path)])
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output
    (summary_file,) = (paths().runs).rglob("retrain-*.json")
    summary = json.loads(summary_file.read_text())
    assert summary["interrupted"] is True and summary["ok"] is False
    assert [(o["job"], o["status"]) for o in summary["outcomes"]] == [
        ("a", "interrupted"),
        ("b", "not run"),
    ]
    assert (
        not list(paths().locks.glob("*.lock"))
        or FileLock(str(next(paths().locks.glob("*.lock"))), timeout=0).acquire()
    )  # the job lock was released


def test_a_summary_that_cannot_be_written_is_one_line_and_exit_5(csv_file, monkeypatch, tmp_path):
    import errno

    from forecaster.nightly import summary as summary_mod

    cfg = nightly(csv_file(CUT))
    yaml_path = tmp_path / "nightly.yaml"
    yaml_path.write_text(json.dumps(cfg.model_dump(mode="json")))

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(summary_mod, "write_json", full)
    result = CliRunner().invoke(cli, ["retrain", "--config", str(yaml_path)])
    assert result.exit_code == 5, result.output
    assert "aapl            promoted" in result.stdout  # the summary is still shown
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "run summary" in errors[0] and "No space left" in errors[0]
    assert "Traceback" not in result.output


def test_two_runs_in_the_same_second_keep_both_summaries(csv_file, monkeypatch):
    import datetime as real_dt
    import types

    from forecaster.nightly import run as run_mod

    class Frozen(real_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return real_dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=real_dt.timezone.utc)

    monkeypatch.setattr(
        run_mod, "dt", types.SimpleNamespace(datetime=Frozen, timezone=real_dt.timezone)
    )
    cfg = nightly(csv_file(CUT))
    first, second = retrain(cfg), retrain(cfg)  # e.g. a run and an overlapping, locked-out one
    assert first.files["json"] != second.files["json"]
    outcomes = [
        json.loads(Path(s.files["json"]).read_text())["outcomes"][0]["status"]
        for s in (first, second)
    ]
    assert outcomes == ["promoted", "skipped"]


def test_a_holdout_that_reaches_the_selection_rows_is_a_config_error(csv_file):
    """The holdout must lie inside the rows the challenger's fit kept unseen (its test split)."""
    from forecaster.errors import ConfigError
    from forecaster.nightly.config import job_config

    cfg = nightly(csv_file(CUT), holdout_fraction=0.2)  # the fit keeps only the newest 15%
    with pytest.raises(ConfigError) as exc:
        job_config(cfg.jobs[0], cfg)
    assert "holdout_fraction 0.2" in str(exc.value) and "\n" not in str(exc.value)
    job_config(cfg.jobs[0], nightly(csv_file(CUT), holdout_fraction=0.15))  # the same rows: fine
    (outcome,) = retrain(cfg).outcomes
    assert outcome.status == "failed" and "holdout_fraction" in outcome.reason


def test_a_dated_split_whose_validation_reaches_the_holdout_is_refused(csv_file, aapl):
    from forecaster.errors import ConfigError
    from forecaster.nightly.holdout import check_unseen

    series = aapl
    last_val = str(series.index[-10])  # a val_end a few rows before the end
    with pytest.raises(ConfigError, match="inside the rows the challenger was selected on"):
        check_unseen(series, 0.1, last_val)
    check_unseen(series, 0.1, str(series.index[int(len(series) * 0.8)]))


def test_a_kept_champion_s_intervals_observe_the_new_nights(csv_file):
    """The nightly job folds the windows observed since the champion's calibration into its
    adaptive interval state (saved in its calibration.json), whether or not it trains."""
    cfg = nightly(csv_file(CUT))
    (first,) = retrain(cfg).outcomes
    folder = api.store().info(first.key, first.champion_after).path
    before = json.loads((folder / "calibration.json").read_text())
    assert before["adaptive"] is not None

    csv_file(CUT + 15)  # three weeks of new rows; the challenger cannot win by 99%
    (second,) = retrain(nightly(csv_file(CUT + 15), margin=0.99)).outcomes
    assert second.status == "kept" and second.champion_after == first.champion_after
    after = json.loads((folder / "calibration.json").read_text())
    assert after["span"][1] > before["span"][1]
    assert after["adaptive"] != before["adaptive"]
    model = FittedModel.load(folder)  # still a valid version, and it predicts with the new state
    assert model.calibration.span[1] == after["span"][1]
