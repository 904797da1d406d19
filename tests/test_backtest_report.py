"""The report: files written, metrics.json and forecasts.csv content, figure data inside the HTML."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

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


def _decode(value):
    """Plotly's JSON stores numpy arrays as base64 typed arrays: {"dtype": "f8", "bdata": ...}."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return out.reshape(value["shape"]) if "shape" in value else out
    return np.asarray(value)


def plots_in(page: str) -> list[tuple[list, dict]]:
    """(data, layout) of every Plotly.newPlot("<div id>", data, layout, ...) call in the page."""
    decoder = json.JSONDecoder()
    plots = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        data, end = decoder.raw_decode(page, match.end())
        layout, _ = decoder.raw_decode(page, end + page[end:].index("{"))
        plots.append((data, layout))
    return plots


def assert_plotly_inlined(page: str) -> None:
    """plotly.js is in the page itself: no <script src=...> (CDN or file), and its banner is inline."""
    assert not re.search(r"<script[^>]*\bsrc\s*=", page)
    assert re.search(r"<script[^>]*>\s*/\*\*?\s*\* plotly\.js v\d", page)
    assert len(page) > 1_000_000


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
            _decode(trace["y"]), result.step_metrics.loc[trace["name"], "mae"]
        )

    forecasts = next(
        data for title, data in by_title.items() if title.startswith("Forecasts against")
    )
    assert forecasts[0]["name"] == "actual"
    offered = forecasts[1:]
    assert 0 < len(offered) <= 30 * len(result.methods)
    for trace in offered:
        i = int(np.flatnonzero(result.origins == trace["meta"])[0])
        np.testing.assert_allclose(_decode(trace["y"]), result.forecasts[trace["name"]][i])
    assert {t["meta"] for t in offered} >= {int(result.origins[0]), int(result.origins[-1])}

    rolling = next(data for title, data in by_title.items() if title.startswith("Rolling MAE"))
    assert [t["name"] for t in rolling] == result.methods
    residuals = next(data for title, data in by_title.items() if title.startswith("Residual"))
    for trace in residuals:
        assert _decode(trace["y"]).sum() == pytest.approx(100.0)

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
    np.testing.assert_allclose(_decode(data[1]["y"]), forecast["forecast"])
