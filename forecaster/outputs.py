"""The files a forecast or a group backtest writes: CSV, JSON and an HTML fan chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from forecaster.data.series import Series
from forecaster.fitted import FittedModel
from forecaster.intervals import level_name
from forecaster.io import write_json, write_text
from forecaster.registry import VersionInfo


def write_forecast(
    key: str,
    frame: pd.DataFrame,
    series: Series,
    fitted: FittedModel,
    info: VersionInfo,
    out_dir: Path,
    plot: bool,
) -> dict[str, Path]:
    """``forecast-<key>-<last time>.csv`` and ``.json`` (and a fan chart ``.html``) in ``out_dir``."""
    from forecaster.backtest.report import forecast_chart

    short = [level_name(lv) for lv in frame.attrs.get("short_levels", [])]
    stem = f"forecast-{key}-{series.end.strftime('%Y%m%dT%H%M')}"
    out = frame.reset_index().rename(columns={"index": "time"})
    for name in short:  # an interval with too few residuals is marked in the file itself
        out[f"short_{name}"] = True
    files = {"csv": write_text(out_dir / f"{stem}.csv", out.to_csv(index=False))}
    payload = forecast_payload(key, frame, series, fitted, info, short)
    files["json"] = write_json(out_dir / f"{stem}.json", payload)
    if plot:
        files["html"] = forecast_chart(series, frame, out_dir / f"{stem}.html")
    return files


def forecast_payload(
    key: str,
    frame: pd.DataFrame,
    series: Series,
    fitted: FittedModel,
    info: VersionInfo,
    short: list[str],
) -> dict[str, Any]:
    """The forecast JSON: series, model, last observation, intervals and one row per step."""
    cal = fitted.calibration
    return {
        "series": key,
        "model": info.key,
        "model_version": info.version,
        "target": fitted.target,
        "unit": series.units.get(series.target, ""),
        "last_observation": {"time": str(series.end), "value": float(series.values[-1])},
        "intervals": None
        if cal is None or "median" not in frame
        else {
            "method": "split-conformal, scaled residuals per step",
            "calibration_origins": cal.n,
            "calibration_span": list(cal.span) if cal.span else None,
            "levels": [c[3:] for c in frame.columns if c.startswith("lo_")],
            "short": short,
        },
        "forecast": [
            {"time": str(t), "value": float(row["forecast"])}
            | {k: float(v) for k, v in row.items() if k != "forecast"}
            for t, row in frame.iterrows()
        ],
    }
