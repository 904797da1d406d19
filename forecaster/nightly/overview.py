"""The nightly overview page: ``<data root>/reports/index.html``, rewritten after every ``forecast retrain``.

One self-contained HTML file (plotly.js inlined once, so it opens offline) with a section per series
(nightly job): the champion, the last run's outcome and the last decision with their reasons, the
champion's latest forecast as a fan chart, the recent holdout error and interval coverage, and links
to the newest backtest report of the series and to the run summary.

The page is built from the run summaries alone (``runs/<date>/retrain-*.json``, the newest
:data:`MAX_SUMMARIES`) and a listing of ``reports/``: for each job its newest outcome, its newest
decision (promoted or kept), holdout scores and forecast, each with the date of its run. A job the
last run did not include (``forecast retrain --job``) therefore still appears, with its date.

What the nightly job stores for the page (:class:`forecaster.nightly.summary.JobOutcome`): ``forecast``, a
:func:`forecast_record` (plain lists), and ``coverage`` (holdout coverage in % per method and level).
"""

from __future__ import annotations

import glob
import html
import json
import logging
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from plotly.offline import get_plotlyjs

from forecaster.backtest.baselines import best_baseline
from forecaster.backtest.charts import fan_chart, interval_columns
from forecaster.data.series import Series
from forecaster.intervals import level_name
from forecaster.io import write_text
from forecaster.nightly.status import DECISIONS, NOT_THROUGH, Status
from forecaster.settings import Paths

log = logging.getLogger(__name__)

#: Newest run summaries read for the page: more than half a year of nightly runs.
MAX_SUMMARIES = 200
#: Observations before the forecast kept in a record (at least; 5 x horizon for long horizons).
HISTORY = 30
_STAMP = re.compile(r"\d{8}T\d{6}")
_TIME_FORMAT = "%Y-%m-%d %H:%M"


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def forecast_record(history: Series, frame: pd.DataFrame, model: str) -> dict[str, Any]:
    """A forecast as plain lists for the run summary (JSON): what the page draws.

    ``frame``: :meth:`forecaster.fitted.FittedModel.predict`'s output (``forecast``, and ``median``,
    ``lo_<level>``, ``hi_<level>`` with intervals; ``attrs["short_levels"]``). Keeps the last
    ``max(HISTORY, 5 x H)`` observations of ``history``. Times are local wall-clock
    ``YYYY-MM-DD HH:MM`` strings in the series' zone (``tz``); values in target units.
    """
    recent = history.frame[history.target].iloc[-max(HISTORY, 5 * len(frame)) :]
    times = frame.index.tz_convert(history.index.tz) if frame.index.tz is not None else frame.index
    levels = interval_columns(frame)

    def values(column: str) -> list[float | None]:
        return [_number(v) for v in frame[column]]

    return {
        "model": model,
        "target": history.target,
        "unit": history.units.get(history.target, ""),
        "tz": str(history.index.tz),
        "history": {
            "time": [t.strftime(_TIME_FORMAT) for t in recent.index],
            "value": [_number(v) for v in recent.to_numpy()],
        },
        "time": [t.strftime(_TIME_FORMAT) for t in times],
        "forecast": values("forecast"),
        "median": values("median") if "median" in frame else None,
        "levels": [level_name(lv) for lv, _, _ in levels],
        "lo": {level_name(lv): values(lo) for lv, lo, _ in levels},
        "hi": {level_name(lv): values(hi) for lv, _, hi in levels},
        "short": [level_name(lv) for lv in frame.attrs.get("short_levels", [])],
    }


# -- reading the run summaries ------------------------------------------------------------------------
@dataclass
class Seen:
    """One job's outcome in one run: the outcome (a JobOutcome as JSON) and its run's summary."""

    outcome: dict[str, Any]
    run: dict[str, Any]

    @property
    def when(self) -> str:
        return str(self.run.get("started_at", "?"))[:16].replace("T", " ")


@dataclass
class JobView:
    """What the page shows of one job: its newest outcome and the newest of each kind of news."""

    job: str
    latest: Seen
    decision: Seen | None = None
    holdout: Seen | None = None
    forecast: Seen | None = None
    champion: str | None = None
    key: str = ""


def read_summaries(runs: Path, limit: int = MAX_SUMMARIES) -> list[dict[str, Any]]:
    """The newest ``limit`` run summaries under ``runs`` (``<date>/retrain-*.json``), newest first.

    An unreadable summary is skipped with a log line: the page shows what can be read.
    """
    files = sorted(Path(runs).glob("*/retrain-*.json"), key=lambda p: (p.parent.name, p.name))
    out = []
    for path in reversed(files[-limit:]):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("overview: skipped the run summary %s (%s)", path, exc)
            continue
        if isinstance(summary, dict) and isinstance(summary.get("outcomes"), list):
            summary.setdefault("files", {}).setdefault("json", str(path))
            out.append(summary)
    return out


def job_views(summaries: Iterable[dict[str, Any]]) -> list[JobView]:
    """One :class:`JobView` per job found in ``summaries`` (newest first), in order of appearance."""
    views: dict[str, JobView] = {}
    for run in summaries:
        for outcome in run["outcomes"]:
            if not isinstance(outcome, dict) or "job" not in outcome:
                continue
            seen = Seen(outcome, run)
            view = views.setdefault(outcome["job"], JobView(outcome["job"], seen))
            view.key = view.key or outcome.get("key") or ""
            if view.champion is None and outcome.get("champion_after"):
                view.champion = outcome["champion_after"]
            if view.decision is None and outcome.get("status") in DECISIONS:
                view.decision = seen
            if view.holdout is None and outcome.get("scores"):
                view.holdout = seen
            if view.forecast is None and outcome.get("forecast"):
                view.forecast = seen
    return list(views.values())


def newest_backtest(reports: Path, key: str) -> Path | None:
    """The newest ``reports/backtest-<key>-<stamp>/report.html`` of the series ``key``, if any."""
    if not key:
        return None
    found = []
    for path in Path(reports).glob(f"backtest-{glob.escape(key)}-*/report.html"):
        stamp = path.parent.name[len(f"backtest-{key}-") :]
        if _STAMP.fullmatch(stamp):  # not the report of another key that starts with this one
            found.append((stamp, path))
    return max(found)[1] if found else None


# -- rendering ------------------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; padding: 0 16px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } p.sub { color: #555; margin-top: 0; }
h2 { font-size: 1.2em; margin: 0 0 6px; }
section.job { border-top: 1px solid #ddd; padding: 16px 0 8px; }
table.jobs, table.holdout { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.92em; }
table.jobs th, table.jobs td, table.holdout th, table.holdout td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
table.holdout td.num, table.holdout th.num { text-align: right; }
tr.current td { font-weight: 600; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.85em; color: #fff; background: #777; }
.status.promoted { background: #2ca02c; } .status.kept { background: #1f77b4; }
.status.failed, .status.interrupted { background: #d62728; } .status.locked { background: #ff7f0e; }
.status.skipped, .status.not-run { background: #888; }
.reason { color: #333; } .muted { color: #777; } .none { color: #777; font-style: italic; margin: 12px 0; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _status(status: str) -> str:
    return f'<span class="status {_esc(status.replace(" ", "-"))}">{_esc(status)}</span>'


def _link(target: str | os.PathLike[str], base: Path) -> str:
    """``target`` relative to the page's folder (the page moves with its data root)."""
    try:
        return Path(os.path.relpath(Path(target), base)).as_posix()
    except ValueError:  # another drive
        return Path(target).as_uri()


def fan_figure(record: dict[str, Any], title: str):
    """The fan chart of a :func:`forecast_record` (see :func:`forecaster.backtest.charts.fan_chart`)."""
    frame = pd.DataFrame(
        {"forecast": record["forecast"]}, index=pd.to_datetime(record["time"]), dtype=float
    )
    if record.get("median") is not None:
        frame["median"] = record["median"]
    for name in record.get("levels", []):
        frame[f"lo_{name}"] = np.asarray(record["lo"][name], dtype=float)
        frame[f"hi_{name}"] = np.asarray(record["hi"][name], dtype=float)
    history = record.get("history") or {"time": [], "value": []}
    unit = record.get("unit") or ""
    fig = fan_chart(
        pd.to_datetime(history["time"]),
        np.asarray(history["value"], dtype=float),
        frame,
        frame.index,
        title=title,
        yaxis=f"{record.get('target', '')}{f' ({unit})' if unit else ''}",
        short_levels=[float(s) for s in record.get("short", [])],
    )
    fig.update_layout(height=400, margin={"t": 50, "b": 40})
    return fig


def _holdout_table(view: JobView) -> str:
    """Holdout error and interval coverage of challenger, champion and the best baseline."""
    if view.holdout is None:
        return '<p class="none">No holdout scores yet (the job has not trained a challenger).</p>'
    outcome = view.holdout.outcome
    scores = {k: v for k, v in outcome["scores"].items() if k != "holdout_origins"}
    metric = next((k.split("_", 1)[1] for k in scores if k.startswith("challenger_")), "mae")
    errors = {k.removesuffix(f"_{metric}"): v for k, v in scores.items()}
    rows = [m for m in ("challenger", "champion") if m in errors]
    best = best_baseline({k: v if _ok(v) else math.inf for k, v in errors.items()})
    if best is not None:
        rows.append(best)
    coverage = outcome.get("coverage") or {}
    levels = sorted({lv for by_level in coverage.values() for lv in by_level}, key=float)
    serving = "challenger" if outcome.get("status") == Status.PROMOTED else "champion"
    names = {
        "challenger": f"challenger {outcome.get('challenger') or ''}",
        "champion": f"champion {outcome.get('champion_before') or ''}",
    }
    head = "".join(
        [f'<th class="num">{_esc(metric.upper())}</th>']
        + [f'<th class="num">coverage {_esc(lv)}%</th>' for lv in levels]
    )
    body = []
    for method in rows:
        label = names.get(method, f"{method} (best baseline)")
        cells = [_fmt(errors.get(method))] + [
            _fmt(coverage.get(method, {}).get(lv)) for lv in levels
        ]
        cls = ' class="current"' if method == serving else ""
        body.append(
            f"<tr{cls}><td>{_esc(label.strip())}</td>"
            + "".join(f'<td class="num">{c}</td>' for c in cells)
            + "</tr>"
        )
    origins = outcome["scores"].get("holdout_origins")
    caption = (
        f'<p class="muted">Holdout of the run of {_esc(view.holdout.when)}'
        + (f", {int(origins)} most recent origins" if origins else "")
        + ". Coverage: % of actuals inside the interval; compare with the level. The model that"
        " serves after that run is in bold.</p>"
    )
    return f'<table class="holdout"><tr><th>model</th>{head}</tr>{"".join(body)}</table>' + caption


def _ok(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _fmt(value: Any) -> str:
    return f"{value:,.4g}" if _ok(value) else "–"


def _outcome_line(label: str, seen: Seen) -> str:
    o = seen.outcome
    return (
        f"<p><b>{_esc(label)}</b> ({_esc(seen.when)}): {_status(o.get('status', '?'))} "
        f'<span class="reason">{_esc(o.get("reason", ""))}</span></p>'
    )


def _job_section(view: JobView, index: int, base: Path, reports: Path) -> str:
    """The HTML of one job's section, its fan chart included (plotly.js is in the page's head)."""
    latest = view.latest.outcome
    parts = [
        f'<section class="job" id="job-{index}">',
        f"<h2>{_esc(view.job)} {_status(latest.get('status', '?'))}</h2>",
        '<p class="sub">'
        + " · ".join(
            x
            for x in (
                _esc(view.key or "series unknown"),
                f"champion <b>{_esc(view.champion)}</b>" if view.champion else "no champion",
                f"data up to {_esc(latest['data_end'])}" if latest.get("data_end") else "",
                f"source {_esc(latest['data_source'])}" if latest.get("data_source") else "",
            )
            if x
        )
        + "</p>",
        _outcome_line("Last run", view.latest),
    ]
    if view.decision is not None and view.decision is not view.latest:
        parts.append(_outcome_line("Last decision", view.decision))
    if view.forecast is not None:
        record = view.forecast.outcome["forecast"]
        last = (record.get("history") or {}).get("time") or ["?"]
        title = f"Next {len(record['time'])} steps after {last[-1]} (run of {view.forecast.when})"
        chart = fan_figure(record, title).to_html(
            include_plotlyjs=False, full_html=False, default_height="400px", div_id=f"fan-{index}"
        )
        parts.append(f'<div class="figure">{chart}</div>')
        if record.get("model") != view.champion:
            parts.append(
                f'<p class="muted">This forecast is of model {_esc(record.get("model"))}, the '
                "champion when it was made; the current champion has not forecast yet.</p>"
            )
    elif view.champion:
        parts.append(
            '<p class="none">No forecast: the champion could not forecast (see the log).</p>'
        )
    else:
        parts.append('<p class="none">No forecast yet: the series has no champion.</p>')
    parts.append(_holdout_table(view))
    links = []
    report = newest_backtest(reports, view.key)
    if report is not None:
        stamp = report.parent.name[-15:]
        links.append(f'<a href="{_esc(_link(report, base))}">newest backtest report ({stamp})</a>')
    files = view.latest.run.get("files", {})
    for kind in ("text", "json"):
        if files.get(kind):
            links.append(f'<a href="{_esc(_link(files[kind], base))}">run summary ({kind})</a>')
    if links:
        parts.append("<p>" + " · ".join(links) + "</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _overview_table(views: list[JobView]) -> str:
    rows = []
    for i, view in enumerate(views):
        o = view.latest.outcome
        rows.append(
            f'<tr><td><a href="#job-{i}">{_esc(view.job)}</a></td>'
            f"<td>{_status(o.get('status', '?'))}</td><td>{_esc(view.champion or '–')}</td>"
            f'<td>{_esc(view.latest.when)}</td><td class="reason">{_esc(o.get("reason", ""))}</td></tr>'
        )
    return (
        '<table class="jobs"><tr><th>job</th><th>last run</th><th>champion</th><th>when (UTC)</th>'
        f"<th>reason</th></tr>{''.join(rows)}</table>"
    )


def overview_html(summaries: list[dict[str, Any]], base: Path, reports: Path) -> str:
    """The whole page as one HTML string (plotly.js inlined once).

    ``summaries``: run summaries newest first (:func:`read_summaries`); ``base``: the page's folder
    (links are relative to it); ``reports``: where backtest report folders are looked for.
    """
    views = job_views(summaries)
    sections = [_job_section(v, i, base, reports) for i, v in enumerate(views)]
    if summaries:
        newest = summaries[0]
        ok = sum(o.get("status") not in NOT_THROUGH for o in newest["outcomes"])
        intro = (
            f"Last run {_esc(str(newest.get('started_at', '?'))[:19])} .. "
            f"{_esc(str(newest.get('finished_at', '?'))[11:19])} UTC: {ok} of "
            f"{len(newest['outcomes'])} jobs ok"
            + (" (interrupted)" if newest.get("interrupted") else "")
            + f". {len(views)} series from the newest {len(summaries)} run summaries."
        )
    else:
        intro = "No nightly run has written a summary yet (`forecast retrain`)."
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            "<title>forecaster: nightly overview</title>",
            f"<style>{_CSS}</style>",
            f'<script type="text/javascript">{get_plotlyjs()}</script>',
            "</head><body>",
            "<h1>forecaster: nightly overview</h1>",
            f'<p class="sub">{intro}</p>',
            _overview_table(views) if views else "",
            *sections,
            "</body></html>",
        ]
    )


def write_overview(where: Paths) -> Path:
    """Rewrite ``reports/index.html`` under a data root from its newest run summaries, atomically."""
    page = where.reports / "index.html"
    summaries = read_summaries(where.runs)
    return write_text(page, overview_html(summaries, page.parent, where.reports))
