"""Anchors: the simple forecasts a model starts from, as linear maps in normalised window space.

The network forecasts ``z`` (H,) from the normalised lookback ``z_hist`` (L,) of the target (see
:mod:`forecaster.models.normalize`; ``z_hist[-1] = 0`` because ``loc`` is the last value). Naive,
seasonal naive and drift over the lookback are all linear in the window, and because ``loc`` and
``scale`` cancel, each is one fixed (H, L) matrix ``A`` with ``z = A @ z_hist`` whatever the window's
level and spread:

* ``naive``: ``A = 0`` (every step is the last value);
* ``seasonal_naive`` (season ``s <= L``): ``A[h, L - s + h % s] = 1`` (the same point of the last
  observed season);
* ``drift``: ``A[h, 0] = -(h + 1) / (L - 1)`` (the line through the first and last value of the
  lookback, extended: ``last + (h + 1) (last - first) / (L - 1)``).

The model adds its learned correction to ``A @ z_hist``; with the correction at zero it *is* the
anchor, to float32 precision. :func:`anchor_scores` rates the candidates on windows given to it (the
training split), in the normalised space the model is trained in, so every window weighs alike
whatever its level. Pure tensor functions; nothing here knows where windows come from.
"""

from __future__ import annotations

import torch

from forecaster.models.normalize import ScaleMode, normalise, window_stats

ANCHORS: tuple[str, ...] = ("naive", "seasonal_naive", "drift")


def anchor_matrix(name: str, lookback: int, horizon: int, season: int = 1) -> torch.Tensor:
    """The (horizon, lookback) float32 matrix of anchor ``name`` (see the module docstring)."""
    a = torch.zeros(horizon, lookback)
    steps = torch.arange(horizon)
    if name == "naive":
        return a
    if name == "seasonal_naive":
        if not 1 <= season <= lookback:
            raise ValueError(f"seasonal naive needs 1 <= season <= lookback, got {season}")
        a[steps, lookback - season + steps % season] = 1.0
        return a
    if name == "drift":
        if lookback < 2:
            raise ValueError("drift needs a lookback of at least 2")
        a[:, 0] = -(steps + 1).float() / (lookback - 1)
        return a
    raise ValueError(f"unknown anchor {name!r}; use one of {ANCHORS}")


def candidates(lookback: int, season: int) -> list[str]:
    """Anchors that fit the window: seasonal naive needs ``1 < season <= lookback``, drift ``L >= 2``."""
    out = ["naive"]
    if 1 < season <= lookback:
        out.append("seasonal_naive")
    if lookback >= 2:
        out.append("drift")
    return out


def anchor_scores(
    history: torch.Tensor,
    future: torch.Tensor,
    names: list[str],
    season: int,
    mode: ScaleMode = "level",
) -> dict[str, float]:
    """Mean absolute error in normalised units of each anchor on the given windows.

    history: (N, L) target values over each lookback (units); future: (N, H) the values that
    followed. Returns ``{name: mean |z_hat - z|}``, dimensionless.
    """
    history, future = history.float(), future.float()
    loc, scale = window_stats(history, mode)
    z_hist, z_future = normalise(history, loc, scale), normalise(future, loc, scale)
    lookback, horizon = history.shape[1], future.shape[1]
    out = {}
    for name in names:
        a = anchor_matrix(name, lookback, horizon, season)
        out[name] = float((z_hist @ a.T - z_future).abs().mean())
    return out
