"""The report: files written, metrics.json and forecasts.csv content, figure data inside the HTML."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from pages import assert_plotly_inlined, decode, plots_in

from forecaster.backtest import build_figures, forecast_chart, run_backtest, write_report
from forecaster.config import BacktestConfig
from forecaster.data.series import Series, validate

H = 4


class LastPlusOne:
    """A contract-honouring fake model: last value + 1 at every step."""

    lookback, horizon = 3, H

    def predict_origins(self, series: Series, origins: np.ndarray) -> np.ndarray:
        return np.repeat(series.values[origins - 1][:, None] + 1.0, H, axis=1)


@pytest.fixture(scope="module")
def toy() -> Series:
    rng = np.random.default_rng(3)
    index = pd.date_range("2023-03-01", periods=300, freq="D", tz="Europe/Paris")
    frame = pd.DataFrame({"level": 50 + np.cumsum(rng.normal(size=300))}, index=index)
    return validate(frame, "level", source="test", symbol="toy", units={"level": "m"})


@pytest.fixture(scope="module")
def result(toy):
    return run_backtest(toy, LastPlusOne(), cfg=BacktestConfig(stride=2), model_name="gru")


@pytest.fixture(scope="module")
def written(result, toy, tmp_path_factory):
    return write_report(result, toy, tmp_path_factory.mktemp("report"), "Toy backtest")


def test_files_are_written(written):
    assert set(written) == {"html", "metrics", "forecasts"}
    assert all(path.is_file() for path in written.values())
    assert not list(written["html"].parent.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_metrics_json(written, result):
    doc = json.loads(
        written["metrics"].read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON")
    )
    assert doc["origins"] == result.n_origins and doc["horizon"] == H
    assert doc["methods"] == ["gru", "naive", "seasonal_naive", "drift", "moving_average", "ridge"]
    assert doc["test_span"]["start"] == str(result.test_span[0])
    assert doc["config"]["stride"] == 2 and doc["config"]["mode"] == "fixed"
    assert doc["units"]["mae"] == "m"
    for method in result.methods:
        for metric, value in doc["metrics"][method].items():
            expected = result.metrics.loc[method, metric]
            assert value == pytest.approx(expected) if np.isfinite(expected) else value is None
        assert len(doc["per_step"][method]["mae"]) == H
    np.testing.assert_allclose(
        doc["per_step"]["gru"]["rmse"], result.step_metrics.loc["gru", "rmse"]
    )


def test_forecasts_csv(written, result):
    table = pd.read_csv(written["forecasts"])
    assert list(table.columns) == ["origin", "step", "timestamp", "actual", *result.methods]
    assert len(table) == result.n_origins * H
    np.testing.assert_allclose(table["gru"], result.forecasts["gru"].ravel())
    np.testing.assert_allclose(table["actual"], result.actuals.ravel())
    first = pd.Timestamp(table["origin"].iloc[0])
    assert first == result.origin_times[0]


def test_html_embeds_plotly_and_no_cdn(written, result):
    page = written["html"].read_text(encoding="utf-8")
    assert_plotly_inlined(page)
    assert "<h1>Toy backtest</h1>" in page and f"{result.n_origins} origins" in page


def test_html_figures_carry_the_results_numbers(written, result):
    page = written["html"].read_text(encoding="utf-8")
    plots = plots_in(page)
    assert len(plots) == 4  # forecasts, error by step, residuals, rolling error; the table is HTML
    by_title = {layout["title"]["text"]: data for data, layout in plots}

    error = next(data for title, data in by_title.items() if title.startswith("MAE by horizon"))
    assert [t["name"] for t in error] == result.methods
    for trace in error:
        np.testing.assert_allclose(
            decode(trace["y"]), result.step_metrics.loc[trace["name"], "mae"]
        )

    forecasts = next(
        data for title, data in by_title.items() if title.startswith("Forecasts against")
    )
    assert forecasts[0]["name"] == "actual"
    offered = forecasts[1:]
    assert 0 < len(offered) <= 30 * len(result.methods)
    for trace in offered:
        i = int(np.flatnonzero(result.origins == trace["meta"])[0])
        np.testing.assert_allclose(decode(trace["y"]), result.forecasts[trace["name"]][i])
    assert {t["meta"] for t in offered} >= {int(result.origins[0]), int(result.origins[-1])}

    rolling = next(data for title, data in by_title.items() if title.startswith("Rolling MAE"))
    assert [t["name"] for t in rolling] == result.methods
    residuals = next(data for title, data in by_title.items() if title.startswith("Residual"))
    for trace in residuals:
        assert decode(trace["y"]).sum() == pytest.approx(100.0)

    mae_cell = f"{result.metrics.loc['gru', 'mae']:,.3f}"
    assert f"<td>{mae_cell}</td>" in page


def test_build_figures_for_notebooks(result, toy):
    figures = build_figures(result, toy)
    assert set(figures) == {"forecasts", "error_by_step", "residuals", "rolling_error", "metrics"}
    assert all(isinstance(fig, go.Figure) for fig in figures.values())
    table = figures["metrics"].data[0]
    assert list(table.cells.values[0]) == result.methods


def test_forecast_chart(toy, tmp_path):
    future = pd.date_range(toy.end + pd.Timedelta(days=1), periods=5, freq="D")
    forecast = pd.DataFrame({"forecast": np.linspace(50, 52, 5)}, index=future)
    path = forecast_chart(toy, forecast, tmp_path / "chart.html")
    page = path.read_text(encoding="utf-8")
    assert_plotly_inlined(page)
    ((data, _),) = plots_in(page)
    assert [t["name"] for t in data] == ["history", "forecast"]
    np.testing.assert_allclose(decode(data[1]["y"]), forecast["forecast"])


# -- prediction intervals ---------------------------------------------------------------------------
LEVELS = (80.0, 95.0)


@pytest.fixture(scope="module")
def iv_result(toy):
    return run_backtest(
        toy, LastPlusOne(), cfg=BacktestConfig(stride=2), model_name="gru", levels=LEVELS
    )


@pytest.fixture(scope="module")
def iv_written(iv_result, toy, tmp_path_factory):
    return write_report(iv_result, toy, tmp_path_factory.mktemp("iv"), "Toy intervals")


def _alpha(fill: str) -> float:
    return float(fill.rsplit(",", 1)[1].rstrip(")"))


def test_report_fan_chart_shows_the_intervals_of_each_offered_origin(iv_written, iv_result):
    page = iv_written["html"].read_text(encoding="utf-8")
    assert_plotly_inlined(page)
    assert page.count("plotly.js v") == 1  # embedded once, however many figures
    by_title = {layout["title"]["text"]: (data, layout) for data, layout in plots_in(page)}
    data, layout = next(v for t, v in by_title.items() if t.startswith("Prediction intervals"))
    best = iv_result.metrics.drop(index="gru")["mae"].idxmin()
    panels = [a["text"] for a in layout["annotations"]]
    assert panels == ["gru", f"{best} (best baseline by MAE)"]
    assert [t["name"] for t in data[:2]] == ["actual", "actual"]
    bands = [t for t in data if t.get("fill") == "toself"]
    lines = [t for t in data[2:] if t.get("fill") != "toself"]
    offered = {t["meta"] for t in lines}
    assert {int(iv_result.origins[0]), int(iv_result.origins[-1])} <= offered
    assert len(bands) == len(LEVELS) * len(lines)
    for band in bands:
        method, level = band["name"].split(" ")[0], float(band["name"].split(" ")[1][:-1])
        i = int(np.flatnonzero(iv_result.origins == band["meta"])[0])
        lo, hi = (b[i] for b in iv_result.intervals[method][level])
        ok = np.isfinite(lo) & np.isfinite(hi)
        np.testing.assert_allclose(decode(band["y"]), np.concatenate([hi[ok], lo[ok][::-1]]))
    for line in lines:
        method = line["name"].removesuffix(" forecast")
        i = int(np.flatnonzero(iv_result.origins == line["meta"])[0])
        np.testing.assert_allclose(decode(line["y"]), iv_result.forecasts[method][i])
    # the widest band is the lightest, and it is drawn first (under the narrower one)
    first = [b for b in bands if b["meta"] == bands[0]["meta"] and b["name"].startswith("gru")]
    assert [b["name"].split(" ")[1] for b in first] == ["95%", "80%"]
    assert _alpha(first[0]["fillcolor"]) < _alpha(first[1]["fillcolor"])
    # the slider shows one origin's bands and forecasts at a time, in both panels
    step = layout["sliders"][0]["steps"][0]
    shown = [t for t, v in zip(data, step["args"][0]["visible"], strict=True) if v]
    assert {t.get("meta") for t in shown[2:]} == {int(iv_result.origins[0])}
    assert len(shown) == 2 + 2 * (len(LEVELS) + 1)
    assert {"xaxis.range", "xaxis2.range", "yaxis.range"} <= set(step["args"][1])


def test_report_coverage_by_step_figure(iv_written, iv_result):
    page = iv_written["html"].read_text(encoding="utf-8")
    by_title = {layout["title"]["text"]: data for data, layout in plots_in(page)}
    data = by_title["Interval coverage by horizon step"]
    lines = {t["name"]: t for t in data}
    for method in iv_result.methods:
        for level in LEVELS:
            trace = lines[f"{method} {level:g}%"]
            np.testing.assert_allclose(
                decode(trace["y"]), iv_result.step_coverage.loc[(method, level)]
            )
            np.testing.assert_array_equal(decode(trace["x"]), np.arange(1, H + 1))
    for level in LEVELS:  # the nominal level as a reference line
        assert list(decode(lines[f"nominal {level:g}%"]["y"])) == [level, level]
    shown = {n for n, t in lines.items() if t.get("visible", True) is True}
    best = iv_result.metrics.drop(index="gru")["mae"].idxmin()
    assert {n.rsplit(" ", 1)[0] for n in shown if not n.startswith("nominal")} == {"gru", best}


def test_report_intervals_table(iv_written, iv_result):
    page = iv_written["html"].read_text(encoding="utf-8")
    assert "<h2>Prediction intervals</h2>" in page
    assert f"calibrated on {iv_result.config['calibration_origins']} origins" in page
    for (method, level), row in iv_result.interval_metrics.iterrows():
        cells = [f"<td>{method}</td>", f"<td>{level:g}%</td>"] + [
            f"<td>{row[m]:,.3f}</td>" for m in ("coverage", "width", "winkler", "pinball")
        ]
        assert re.search(r"\s*".join(map(re.escape, cells)), page), (method, level)


def test_metrics_json_has_the_interval_metrics(iv_written, iv_result):
    doc = json.loads(
        iv_written["metrics"].read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON")
    )
    intervals = doc["intervals"]
    assert intervals["levels"] == list(LEVELS)
    assert intervals["units"]["coverage"] == "%" and intervals["units"]["width"] == "m"
    assert intervals["calibration_origins"] == iv_result.config["calibration_origins"] > 0
    for method in iv_result.methods:
        for level in LEVELS:
            got = intervals["metrics"][method][f"{level:g}"]
            row = iv_result.interval_metrics.loc[(method, level)]
            for metric in ("coverage", "width", "winkler", "pinball"):
                assert got[metric] == pytest.approx(row[metric])
            assert got["short_origins"] == int(iv_result.interval_short[method][level].sum())
            np.testing.assert_allclose(
                intervals["per_step_coverage"][method][f"{level:g}"],
                iv_result.step_coverage.loc[(method, level)],
            )
    table = pd.read_csv(iv_written["forecasts"])
    np.testing.assert_allclose(table["gru_lo_80"], iv_result.intervals["gru"][80.0][0].ravel())


def test_metrics_json_without_intervals(written):
    assert json.loads(written["metrics"].read_text())["intervals"] is None


def test_build_figures_with_intervals(iv_result, toy):
    figures = build_figures(iv_result, toy)
    assert list(figures) == [
        "forecasts",
        "fan",
        "coverage",
        "error_by_step",
        "residuals",
        "rolling_error",
        "metrics",
        "intervals",
    ]
    table = figures["intervals"].data[0]
    assert list(table.cells.values[0]) == [m for m in iv_result.methods for _ in LEVELS]
    assert list(table.cells.values[1]) == ["80%", "95%"] * len(iv_result.methods)


def test_forecast_chart_draws_a_fan(toy, tmp_path):
    future = pd.date_range(toy.end + pd.Timedelta(days=1), periods=5, freq="D")
    point = np.linspace(50, 52, 5)
    spread = np.linspace(1, 3, 5)
    forecast = pd.DataFrame(
        {
            "forecast": point,
            "median": point + 0.1,
            "lo_80": point - spread,
            "hi_80": point + spread,
            "lo_95": point - 2 * spread,
            "hi_95": point + 2 * spread,
        },
        index=future,
    )
    forecast.attrs["short_levels"] = [95.0]
    page = forecast_chart(toy, forecast, tmp_path / "fan.html").read_text(encoding="utf-8")
    assert_plotly_inlined(page)
    ((data, _),) = plots_in(page)
    names = [t["name"] for t in data]
    assert names == [
        "history",
        "95% interval (short: too few residuals)",
        "80% interval",
        "forecast",
        "median",
    ]
    wide, narrow = data[1], data[2]
    assert wide["fill"] == narrow["fill"] == "toself"
    assert _alpha(wide["fillcolor"]) < _alpha(narrow["fillcolor"])
    np.testing.assert_allclose(
        decode(narrow["y"]), np.concatenate([point + spread, (point - spread)[::-1]])
    )
    np.testing.assert_allclose(decode(data[3]["y"]), point)
    assert data[4]["line"]["dash"] == "dash"
    assert "80%" in data[3]["hovertemplate"] and "95%" in data[3]["hovertemplate"]

    # the CSV that predict writes marks a short level with a short_<level> column: not a line
    csv = forecast.assign(short_95=True)
    csv.attrs = {}
    page = forecast_chart(toy, csv, tmp_path / "csv.html").read_text(encoding="utf-8")
    ((data, _),) = plots_in(page)
    assert [t["name"] for t in data] == names
