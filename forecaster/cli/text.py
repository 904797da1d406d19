"""What the terminal shows after a fit: the model, its validation table, and what was shipped."""

from __future__ import annotations

import pandas as pd

from forecaster.backtest import baselines as bl
from forecaster.data.group import SeriesGroup
from forecaster.fitted import FittedModel
from forecaster.fitting import FitResult


def anchor_summary(model: FittedModel) -> str:
    """One line: what the model started from and whether training beat it on validation."""
    anchor = model.meta.anchor
    name = anchor.name.replace("_", " ")
    if anchor.is_anchor:
        return f"The GRU did not beat {name} on validation; the saved model forecasts as {name}."
    selection = anchor.selection or {}
    if "p_value" not in selection:
        return f"The GRU started from {name}; no validation decided between them."
    share = float(anchor.blend)
    kept = "" if share >= 1 else f"; {share:.0%} of the learned correction kept"
    p = float(selection["p_value"])
    p_text = "p<0.001" if p < 0.001 else f"p={p:.2g}"
    return (
        f"The GRU beat {name} on validation (MAE {selection['trained_mae']:.4g} vs "
        f"{selection['anchor_mae']:.4g}, {p_text}){kept}."
    )


def better_baseline_note(table: pd.DataFrame, model: FittedModel) -> list[str]:
    """A line when a baseline beat the saved model on validation, saying why it was not shipped."""
    scores = table["mae"].astype(float).to_dict()
    best = bl.best_baseline({k: v for k, v in scores.items() if k != model.name})
    if best is None or model.name not in table.index:
        return []
    model_mae, best_mae = scores[model.name], scores[best]
    if not best_mae < model_mae:
        return []
    anchor = model.meta.anchor.name.replace("_", " ")
    return [
        f"Note: {best.replace('_', ' ')} was {1 - best_mae / model_mae:.1%} better on validation; "
        f"the anchor is chosen on the training windows, where {anchor} was best."
    ]


def _what(result: FitResult) -> str:
    group = result.series if isinstance(result.series, SeriesGroup) else None
    s = group.members[0] if group is not None else result.series
    unit = s.units.get(s.target, "")
    if group is None:
        return (
            f"{s.source}:{s.symbol} '{s.target}'{f' ({unit})' if unit else ''}, "
            f"{s.start:%Y-%m-%d %H:%M} .. {s.end:%Y-%m-%d %H:%M}, {len(s):,} rows"
        )
    sizes = ", ".join(f"{x.symbol} {len(x):,}" for x in group)
    return (
        f"group {group.name} '{s.target}'{f' ({unit})' if unit else ''}: one model, "
        f"{len(group)} series ({sizes} rows)"
    )


def _table_lines(table: pd.DataFrame, unit: str) -> list[str]:
    best = {col: table[col].idxmin() for col in ("mae", "rmse")}
    relative = table.attrs.get("relative", False)
    pooled = " pooled over the members" if "members" in table.attrs else ""
    units = (
        "relative to naive: each member's error / its naive error, averaged"
        if relative
        else (f"errors in {unit or 'target units'}")
    )
    lines = [
        f"Validation on {int(table['windows'].iloc[0]):,} windows{pooled} ({units}):",
        f"  {'method':<20}{'MAE':>10}{'RMSE':>10}   (seasonal naive: season {table.attrs.get('season', '?')})",
    ]
    for name, row in table.iterrows():
        marks = "".join("*" if best[c] == name else " " for c in ("mae", "rmse"))
        lines.append(
            f"  {name:<20}{row['mae']:>10.4g}{row['rmse']:>10.4g}  {marks.strip() and '* best'}"
        )
    for symbol, row in table.attrs.get("members", {}).items():
        lines.append(
            f"  {symbol:<20}gru {row['model']:.4g} vs best baseline {row['best']} {row['best_mae']:.4g}"
        )
    return lines


def describe_fit(result: FitResult) -> str:
    """A short human-readable summary of a fit (what the CLI prints)."""
    m, c = result.model, result.model.config
    s = result.series.members[0] if isinstance(result.series, SeriesGroup) else result.series
    arch = f"{c.model.num_layers}x{c.model.hidden_size} {'bidirectional ' if c.model.bidirectional else ''}GRU"
    lines = [
        f"Trained {arch} on {_what(result)}",
        f"  lookback {c.model.lookback} -> horizon {c.model.horizon} steps ({s.freq}), "
        f"{m.meta.epochs_trained} epochs (best {m.meta.best_epoch}), {result.seconds:.0f} s",
        *_table_lines(result.table, s.units.get(s.target, "")),
        anchor_summary(m),
        *better_baseline_note(result.table, m),
    ]
    if result.version is not None:
        lines.append(f"Saved {result.key} version {result.version.version}")
        lines.append(f"  {result.version.path}")
        if result.promoted:
            lines.append("  (now the champion)")
    return "\n".join(lines)
