"""The study's report: one self-contained HTML page with the decision, the block scores and Optuna's Plotly figures."""

from __future__ import annotations

import html
import logging
import warnings
from pathlib import Path

import pandas as pd

from forecaster.io import write_text
from forecaster.tuning.objective import BlockScore, mean_relative
from forecaster.tuning.trials import TrialRecord

log = logging.getLogger(__name__)

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } p.sub { color: #555; margin-top: 0; }
table.metrics { border-collapse: collapse; margin: 12px 0 24px; font-size: 0.92em; }
table.metrics th, table.metrics td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
table.metrics th:first-child, table.metrics td:first-child { text-align: left; }
.figure { margin: 12px 0 28px; }
"""


def block_table(default: list[BlockScore], best: TrialRecord | None) -> pd.DataFrame:
    """Rows: each block, then the mean; columns per candidate (default, best trial): relative MAE,
    the anchor's, MAE (units) and the share of the correction kept."""
    rows = {}
    for name, scores in (("default", default), ("best", best.blocks if best else [])):
        for s in scores:
            row = rows.setdefault(f"block {s.block}", {})
            row |= {
                f"{name} relative": s.relative,
                f"{name} anchor": s.anchor,
                f"{name} MAE": s.mae,
                f"{name} blend": s.blend,
            }
        if scores:
            rows.setdefault("mean", {})[f"{name} relative"] = mean_relative(scores)
    return pd.DataFrame.from_dict(rows, orient="index")


def trials_table(trials: list[TrialRecord], top: int = 40) -> pd.DataFrame:
    """The finished trials, best first (at most ``top``), then the pruned and failed ones."""
    order = sorted(trials, key=lambda t: (not t.complete, t.value or 0.0, t.number))[:top]
    return pd.DataFrame(
        [
            {
                "trial": t.number,
                "outcome": t.outcome.value,
                "relative MAE": t.value,
                "blocks": len(t.blocks),
                "seconds": None if t.seconds is None else round(t.seconds),
                **{k.split(".")[-1]: _value(v) for k, v in t.settings.items()},
                "note": t.note,
            }
            for t in order
        ]
    )


def figures(study, default: float) -> dict[str, object]:
    """Optuna's figures of ``study``: history (with the default's score as a line), the blocks
    (intermediate values), parameter importances, slices; a figure that needs more finished
    trials than there are is left out."""
    from optuna import visualization as vis

    out: dict[str, object] = {}
    makers = {
        "history": vis.plot_optimization_history,
        "blocks": vis.plot_intermediate_values,
        "importances": vis.plot_param_importances,
        "slices": vis.plot_slice,
    }
    for name, make in makers.items():
        try:
            with (
                warnings.catch_warnings()
            ):  # "too few trials for importances": they are shown equal
                warnings.simplefilter("ignore", UserWarning)
                out[name] = make(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            log.debug("no %s figure: %s", name, exc)
    if "history" in out:
        out["history"].add_hline(y=default, line_dash="dash", annotation_text="default settings")
    return out


def report_html(result, study) -> str:
    """The whole page as one HTML string, plotly.js inlined (``result``: a TuneResult)."""
    from plotly.offline import get_plotlyjs

    best = result.best
    title = f"Tuning {result.key}"
    span = (
        "no test span"
        if result.test_start is None
        else f"the test span from {result.test_start} is never read"
    )
    sub = (
        f"study {result.study} · {result.rows} of {result.total} rows searched ({span}) · "
        f"{len(result.blocks)} validation blocks · {len(result.trials)} trials"
    )
    decision = result.decision.reason if result.decision else "interrupted: no decision"
    verdict = "kept: " if result.decision and result.decision.keep else "the default stays: "
    figs = figures(study, mean_relative(result.default))
    divs = [
        f'<div class="figure">{fig.to_html(include_plotlyjs=False, full_html=False)}</div>'
        for fig in figs.values()
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_CSS}</style>",
            f'<script type="text/javascript">{get_plotlyjs()}</script>',
            "</head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="sub">{html.escape(sub)}</p>',
            f"<p><b>{html.escape(verdict + decision)}</b></p>",
            "<h2>Default and best trial on the validation blocks</h2>",
            _table(block_table(result.default, best)),
            '<p class="sub">relative = MAE / the naive forecast\'s MAE on the same windows (1 is '
            "naive); anchor: the forecast the fit started from; blend: the share of the learned "
            "correction the fit kept.</p>",
            "<h2>Trials</h2>",
            _table(trials_table(result.trials), index=False),
            *divs,
            "</body></html>",
        ]
    )


def _value(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _table(frame: pd.DataFrame, index: bool = True) -> str:
    return frame.to_html(
        index=index,
        classes="metrics",
        border=0,
        escape=True,
        float_format=lambda x: f"{x:.4g}",
        na_rep="",
    )


def write_report(result, study, path: Path) -> Path:
    """Write the report to ``path`` atomically."""
    return write_text(path, report_html(result, study))
