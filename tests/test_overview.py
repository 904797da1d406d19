"""The nightly overview page: every retrain writes reports/index.html from the run summaries.

Real nightly runs on the AAPL snapshot written to a CSV (as in test_retrain), tiny models.
"""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pages import assert_plotly_inlined, decode, plots_in

from forecaster import api
from forecaster.backtest import charts
from forecaster.cli import cli
from forecaster.data.file_key import file_key_name
from forecaster.fitted import FittedModel
from forecaster.nightly import overview
from forecaster.nightly.config import JobConfig, NightlyConfig
from forecaster.nightly.overview import newest_backtest
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
CUT = 900  # rows of the nightly CSV


@pytest.fixture
def csv_path(tmp_path, aapl):
    path = tmp_path / "aapl.csv"
    aapl.frame.iloc[:CUT].tz_localize(None).to_csv(path, index_label="time")
    return path


def nightly(csv_path, tmp_path) -> NightlyConfig:
    good = JobConfig(name="aapl", csv=str(csv_path), overrides={**TINY, "data.target": "close"})
    broken = JobConfig(name="broken", csv=str(tmp_path / "missing.csv"), overrides=TINY)
    return NightlyConfig(jobs=[good, broken], holdout_fraction=0.1)


def test_retrain_writes_the_overview_page(csv_path, tmp_path):
    cfg = nightly(csv_path, tmp_path)
    key = f"csv-{file_key_name(csv_path)}"
    # a backtest report of the series from earlier (and one of a series whose key extends it)
    for name in (f"backtest-{key}-20260101T000000", f"backtest-{key}-20260102T000000"):
        (paths().reports / name).mkdir(parents=True)
        (paths().reports / name / "report.html").write_text("report")

    summary = retrain(cfg)
    good, broken = summary.outcomes
    assert (good.status, broken.status) == ("promoted", "failed")
    page_path = paths().reports / "index.html"
    assert summary.files["overview"] == str(page_path)
    page = page_path.read_text(encoding="utf-8")
    assert_plotly_inlined(page)
    assert page.count("plotly.js v") == 1

    # every job, its champion, its last decision and reason
    assert "<h2>aapl " in page and "<h2>broken " in page
    assert f"champion <b>{good.champion_after}</b>" in page
    assert '<span class="status promoted">promoted</span>' in page
    assert "no champion yet" in page
    assert '<span class="status failed">failed</span>' in page and "missing.csv" in page
    assert "No forecast yet: the series has no champion." in page
    # links: the series' newest backtest report and this run's summary, relative to the page
    assert f'href="backtest-{key}-20260102T000000/report.html"' in page
    run_txt = summary.files["text"].split("/runs/")[1]
    assert f'href="../runs/{run_txt}"' in page

    # the fan chart is the champion's forecast from the newest data, with its intervals
    ((data, layout),) = plots_in(page)
    series = api.load_data(api.make_config(csv=str(csv_path), overrides={"data.target": "close"}))
    champion = FittedModel.load(api.store().resolve(good.key).path)
    expected = champion.predict(series, [80, 95])
    by_name = {t["name"]: t for t in data}
    np.testing.assert_allclose(decode(by_name["forecast"]["y"]), expected["forecast"], rtol=1e-6)
    np.testing.assert_allclose(decode(by_name["median"]["y"]), expected["median"], rtol=1e-6)
    band = by_name["80% interval"]
    assert band["fill"] == "toself"
    np.testing.assert_allclose(
        decode(band["y"]),
        np.concatenate([expected["hi_80"], expected["lo_80"][::-1]]),
        rtol=1e-6,
    )
    assert "95% interval" in by_name["95% interval"]["name"]
    assert len(decode(by_name["history"]["y"])) >= 30

    # the run summary holds what the page drew: forecast and holdout coverage
    stored = json.loads(Path(summary.files["json"]).read_text())["outcomes"][0]
    assert stored["forecast"]["model"] == good.champion_after
    assert stored["forecast"]["levels"] == ["80", "95"]
    assert set(stored["coverage"]) >= {"challenger"}
    for by_level in stored["coverage"].values():
        assert set(by_level) == {"80", "95"}
        assert all(0 <= v <= 100 for v in by_level.values())
    assert stored["coverage"]["challenger"]["95"] >= stored["coverage"]["challenger"]["80"]
    assert "coverage 95%" in page


def test_the_page_keeps_series_from_earlier_nights(csv_path, tmp_path):
    cfg = nightly(csv_path, tmp_path)
    (first, _) = retrain(cfg).outcomes
    retrain(cfg, only=["broken"])  # tonight's run did not include aapl
    again = retrain(cfg, only=["aapl"])  # no new rows: skipped, the forecast is still drawn
    (skipped,) = again.outcomes
    assert skipped.status == "skipped" and skipped.forecast is not None
    page = (paths().reports / "index.html").read_text(encoding="utf-8")
    assert "<h2>aapl " in page and "<h2>broken " in page
    assert '<span class="status skipped">skipped</span>' in page
    assert "<b>Last decision</b>" in page and "no champion yet" in page  # the earlier promotion
    assert f"champion <b>{first.champion_after}</b>" in page
    assert len(plots_in(page)) == 1


def test_an_unwritable_reports_folder_is_a_warning_not_a_failed_run(csv_path, tmp_path):
    cfg = NightlyConfig(jobs=nightly(csv_path, tmp_path).jobs[:1], holdout_fraction=0.1)
    paths().root.mkdir(parents=True, exist_ok=True)
    paths().reports.write_text("a file where the reports folder should be")
    yaml_path = tmp_path / "nightly.yaml"
    yaml_path.write_text(json.dumps(cfg.model_dump(mode="json")))
    result = CliRunner().invoke(cli, ["retrain", "--config", str(yaml_path)])
    assert result.exit_code == 0, result.output
    assert "warning: the overview page was not written" in result.stdout
    assert "Traceback" not in result.output
    (summary_file,) = paths().runs.rglob("retrain-*.json")
    summary = json.loads(summary_file.read_text())
    assert summary["ok"] is True and summary["outcomes"][0]["status"] == "promoted"
    assert len(summary["warnings"]) == 1 and str(paths().reports) in summary["warnings"][0]
    assert "warning: the overview page" in summary_file.with_suffix(".txt").read_text()


def test_a_page_that_fails_to_render_is_a_warning(csv_path, tmp_path, monkeypatch):
    from forecaster.nightly import summary as summary_mod

    def broken(*args, **kw):
        raise ValueError("a bug in the page")

    monkeypatch.setattr(summary_mod, "write_overview", broken)
    cfg = NightlyConfig(jobs=nightly(csv_path, tmp_path).jobs[:1], holdout_fraction=0.1)
    summary = retrain(cfg)
    assert summary.exit_code == 0 and summary.outcomes[0].status == "promoted"
    assert summary.warnings == ["the overview page was not written: ValueError: a bug in the page"]


def test_newest_backtest_report_of_a_series(tmp_path):
    for name in (
        "backtest-csv-aapl-20260101T000000",
        "backtest-csv-aapl-20260103T000000",
        "backtest-csv-aapl-x-20260105T000000",  # another series whose key starts the same
        "backtest-csv-aapl-20260104T000000",  # no report.html inside: not a report
    ):
        (tmp_path / name).mkdir()
    for name in ("backtest-csv-aapl-20260101T000000", "backtest-csv-aapl-20260103T000000"):
        (tmp_path / name / "report.html").write_text("")
    (tmp_path / "backtest-csv-aapl-x-20260105T000000" / "report.html").write_text("")
    found = newest_backtest(tmp_path, "csv-aapl")
    assert found == tmp_path / "backtest-csv-aapl-20260103T000000" / "report.html"
    assert newest_backtest(tmp_path, "csv-msft") is None
    assert newest_backtest(tmp_path, "") is None


def test_the_page_never_imports_the_cli_or_the_nightly_job():
    for mod in (overview, charts):
        tree = ast.parse(inspect.getsource(mod))
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        forbidden = (
            "forecaster.cli",
            "forecaster.api",
            "forecaster.nightly.job",
            "forecaster.nightly.run",
            "forecaster.nightly.summary",
        )
        assert not [m for m in imported if m and m.startswith(forbidden)], mod.__name__


def test_a_group_jobs_holdout_table_shows_a_real_baseline():
    """A group's outcome also carries per-member scores (``IBM_challenger_mae``); the best baseline
    row is chosen among the baselines only."""
    from forecaster.nightly.overview import JobView, Seen, _holdout_table

    outcome = {
        "status": "kept",
        "challenger": "v2",
        "champion_before": "v1",
        "scores": {
            "challenger_mae": 1.02,
            "champion_mae": 1.01,
            "naive_mae": 1.0,
            "drift_mae": 1.03,
            "IBM_challenger_mae": 0.31,
            "IBM_champion_mae": 0.30,
            "holdout_origins": 100,
        },
    }
    seen = Seen(outcome, {"started_at": "2026-11-25T01:00:00"})
    html = _holdout_table(JobView("watchlist", seen, holdout=seen))
    assert "naive (best baseline)" in html
    assert "IBM" not in html
