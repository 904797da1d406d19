"""Adaptive conformal intervals: each horizon step's bounds follow the misses observed so far.

Split-conformal intervals (:mod:`forecaster.intervals`) take fixed quantiles of earlier scaled
residuals; when the errors change (a new season, a level the model did not learn) they under-cover
until enough new residuals outweigh the old. Here each bound also moves with its own misses,
separately per level, per tail (lower, upper) and per horizon step h = 1..H:

* **Quantile tracking** (the P term of conformal PID control, Angelopoulos et al. 2023): the bound
  is the split quantile plus an offset ``u`` in units of the split half-width, and
  ``u <- u + gamma (miss - a)``, ``a`` the tail's target miss rate ``(1 - level/100) / 2``: a run
  of misses pushes the bound out, a calm spell pulls it back; over any stretch the miss rate stays
  within ``(range of u + gamma) / (gamma T)`` of ``a``.
* **No step size to choose** (as DtACI, Gibbs & Candès 2022, aggregates ACI): K experts track with
  the step sizes ``GAMMAS``; the offset used is their weighted mean, the weights following
  ``exp(-eta * pinball loss)`` of each expert's offset against the window's exceedance ``z``
  (where the bound would have had to be to just cover it), mixed with ``sigma`` so a slow expert
  can come back (eta and sigma from DtACI's local interval of ``LOCAL`` windows).
* ``space="level"`` runs the same experts on the quantile *level* instead (ACI, Gibbs & Candès
  2021: ``u`` is minus the tail level; bounds are conformal ranks, extended exponentially beyond the
  pool). Measured against the offsets in ``benchmarks/bench_adaptive.py`` and not used: far in a
  tail a small change of level is a large change of width, so the level's noise widened the 95%
  stock intervals by 12-16% (DtACI) and a variance shift's by 150%; offsets are linear in the
  width (+4-8% and +24%).

Feedback is delayed as the data is: a window's miss is folded in (its residual joins the pool and
the experts move) only once its whole horizon has been observed (``ready < issue`` of the window
being issued; for rows ``o' + H <= o``), and an expert is judged by the offset it had when that
window was issued, not the one its overlapping neighbours have moved it to since. The state
(:class:`AdaptiveState`) is saved with a model's calibration and moved on by :func:`update_state`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # intervals imports this module; only its types are needed here
    from forecaster.intervals import Calibration

GAMMAS: tuple[float, ...] = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128)
"""The experts' step sizes (DtACI's grid): split half-widths (or levels) per unit of miss."""
LOCAL = 100
"""DtACI's local interval length I, in windows: sets the weights' learning rate and mixing."""
SCORE_ETA = 0.1
"""The weights' learning rate for offsets, as a share of DtACI's: an offset's pinball loss is in
half-widths, far larger than a level's; at DtACI's rate one window flips the weights (measured:
0.03-0.1 alike, 0.3 and 1 under-cover)."""
METHODS = ("adaptive", "split")
"""``backtest.interval_method``: adaptive (this module) or split-conformal."""
SPACES = ("score", "level")
SPACE = "score"
"""The space :func:`walk_forward` tracks in (what the backtest runs; the benchmark changes it)."""
EXTEND = 1e-3
"""``level`` space: the lowest tail level used, as a share of ``1/(n+1)``."""


def targets(levels: Sequence[float]) -> np.ndarray:
    """(n_levels,) each tail's target miss rate ``(1 - level/100) / 2``."""
    return (1.0 - np.asarray(levels, dtype=np.float64) / 100.0) / 2.0


# -- the state -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdaptiveState:
    """Where the experts stand, per level, tail (lower, upper), step and expert.

    ``values``: (n_levels, 2, H, K) float64, each expert's offset ``u`` (``score``: how far the
    bound sits beyond the split quantile, in split half-widths, outward positive; ``level``: minus
    the tail miss level). ``weights``: the same shape, summing to 1 over K. ``windows``: how many
    windows have been folded in.
    """

    levels: tuple[float, ...]
    gammas: tuple[float, ...]
    values: np.ndarray
    weights: np.ndarray
    windows: int = 0
    space: str = "score"
    local: int = LOCAL

    @classmethod
    def start(
        cls,
        levels: Sequence[float],
        horizon: int,
        gammas: Sequence[float] = GAMMAS,
        space: str = "score",
    ) -> AdaptiveState:
        """Every expert at the split bounds (offset 0, or the target level), equal weights."""
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        shape = (len(levels), 2, horizon, len(gammas))
        first = -targets(levels) if space == "level" else np.zeros(len(levels))
        values = np.broadcast_to(first[:, None, None, None], shape).copy()
        weights = np.full(shape, 1.0 / len(gammas))
        lv, g = tuple(float(x) for x in levels), tuple(float(x) for x in gammas)
        return cls(lv, g, values, weights, 0, space)

    @property
    def horizon(self) -> int:
        return int(self.values.shape[2])

    def offsets(self) -> np.ndarray:
        """(n_levels, 2, H) the offsets in use: the weighted mean of the experts'."""
        return (self.values * self.weights).sum(axis=-1)

    def index(self, level: float) -> int | None:
        """Position of ``level`` (percent) among the state's levels, or None."""
        hits = [i for i, lv in enumerate(self.levels) if abs(lv - float(level)) < 1e-9]
        return hits[0] if hits else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable (inside ``calibration.json``); float64 values round-trip exactly."""
        return {
            "method": "quantile tracking per level, tail and step; experts' offsets and weights",
            "space": self.space,
            "levels": list(self.levels),
            "gammas": list(self.gammas),
            "local": self.local,
            "windows": self.windows,
            "values": self.values.tolist(),
            "weights": self.weights.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AdaptiveState:
        values = np.asarray(d["values"], dtype=np.float64)
        weights = np.asarray(d["weights"], dtype=np.float64)
        levels, gammas = tuple(float(v) for v in d["levels"]), tuple(float(g) for g in d["gammas"])
        space = str(d.get("space", "score"))
        if values.ndim != 4 or values.shape != weights.shape or space not in SPACES:
            raise ValueError("adaptive values and weights must be equal (levels, 2, H, K) arrays")
        if values.shape[0] != len(levels) or values.shape[1] != 2 or values.shape[3] != len(gammas):
            raise ValueError("adaptive values do not match its levels and gammas")
        windows, local = int(d.get("windows", 0)), int(d.get("local", LOCAL))
        return cls(levels, gammas, values, weights, windows, space, local)


def _rates(state: AdaptiveState) -> tuple[np.ndarray, np.ndarray, float]:
    """Per level the target and the weights' learning rate eta, (n_levels, 1, 1, 1), and sigma."""
    a = targets(state.levels)
    k, i = len(state.gammas), state.local
    denom = (1 - a) ** 2 * a**3 + a**2 * (1 - a) ** 3
    eta = np.sqrt(3.0 / i) * np.sqrt((np.log(k * i) + 2.0) / denom)
    eta = eta * (SCORE_ETA if state.space == "score" else 1.0)
    return a[:, None, None, None], eta[:, None, None, None], 1.0 / (2 * i)


def advance(state: AdaptiveState, z: np.ndarray, issued: np.ndarray | None = None) -> AdaptiveState:
    """The state after one window whose exceedances were ``z`` (n_levels, 2, H) (:func:`exceedance`).

    ``issued``: the experts' offsets when the window's bounds were issued (default: the current
    ones). An expert missed when ``z`` exceeded that offset; it moves by ``gamma (miss - a)``, and
    its weight by ``exp(-eta * loss)``, the loss the pinball loss at ``1 - a`` of that offset
    against ``z`` (capped at 1: one wild residual does not wipe out an expert), mixed with sigma.
    """
    a, eta, sigma = _rates(state)
    zz = np.asarray(z, dtype=np.float64)[..., None]
    then = state.values if issued is None else issued
    d = zz - then
    loss = np.minimum(np.maximum((1.0 - a) * d, -a * d), 3.0)
    w = state.weights * np.exp(-eta * loss)
    w = (1.0 - sigma) * w / w.sum(axis=-1, keepdims=True) + sigma / len(state.gammas)
    miss = (zz > then).astype(np.float64)
    values = state.values + np.asarray(state.gammas) * (miss - a)
    return replace(state, values=values, weights=w, windows=state.windows + 1)


# -- bounds and exceedances from a sorted pool ---------------------------------------------------------
def _split(pool: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_levels, H) the split bounds (conformal ranks) at tail targets ``a`` from ``pool`` (H, m)."""
    H, m = pool.shape
    steps = np.arange(H)
    k_lo = np.clip(np.floor((m + 1) * a + 1e-9).astype(np.int64), 1, m)
    k_hi = np.clip(np.ceil((m + 1) * (1.0 - a) - 1e-9).astype(np.int64), 1, m)
    return pool[steps, k_lo[:, None] - 1], pool[steps, k_hi[:, None] - 1]


def _spread(pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H,) each tail's spread per unit of log level beyond the pool: from its 10 extreme values."""
    m = pool.shape[1]
    k = min(10, m)
    if k < 2:
        zero = np.zeros(pool.shape[0])
        return zero, zero
    return (pool[:, k - 1] - pool[:, 0]) / np.log(k), (pool[:, m - 1] - pool[:, m - k]) / np.log(k)


def bounds(pool: np.ndarray, state: AdaptiveState) -> tuple[np.ndarray, np.ndarray]:
    """Scaled bounds (lo, hi), each (n_levels, H), that ``state`` issues from ``pool`` (H, m).

    ``pool``: each row the sorted residuals of a step. ``score``: the split bounds moved out by the
    offset times the split half-width (an offset below -1 is held at -1, the interval's middle).
    ``level``: the conformal ranks at the tail level, extended beyond the pool by
    ``spread * ln(1/((m+1) l))``, the level held in ``[EXTEND/(m+1), 0.5]``. NaN for an empty pool.
    """
    H, m = pool.shape
    if m == 0:
        nan = np.full((len(state.levels), H), np.nan)
        return nan, nan.copy()
    u = state.offsets()
    if state.space == "score":
        lo, hi = _split(pool, targets(state.levels))
        half = np.maximum((hi - lo) / 2.0, 1e-12)
        u = np.maximum(u, -1.0)
        return lo - u[:, 0] * half, hi + u[:, 1] * half
    a0 = 1.0 / (m + 1)
    lv = np.clip(-u, EXTEND * a0, 0.5)
    low, high = lv[:, 0], lv[:, 1]
    steps = np.arange(H)
    k_lo = np.floor((m + 1) * low + 1e-9).astype(np.int64)
    k_hi = np.ceil((m + 1) * (1.0 - high) - 1e-9).astype(np.int64)
    s_lo, s_hi = _spread(pool)
    lo = np.where(
        k_lo >= 1, pool[steps, np.clip(k_lo, 1, m) - 1], pool[:, 0] - s_lo * np.log(a0 / low)
    )
    hi = np.where(
        k_hi <= m,
        pool[steps, np.clip(k_hi, 1, m) - 1],
        pool[:, m - 1] + s_hi * np.log(a0 / high),
    )
    return lo, hi


def exceedance(pool: np.ndarray, score: np.ndarray, state: AdaptiveState) -> np.ndarray:
    """(n_levels, 2, H) where each offset would have had to be for its bound to just cover ``score``
    (H,): an expert whose offset was below it missed.

    ``score``: ``(split lo - score)`` and ``(score - split hi)`` in split half-widths. ``level``:
    minus the largest tail level that still covers (``(c + 1)/(m + 1)`` with c residuals at or
    beyond the score; beyond the pool the inverse of the extended tail).
    """
    H, m = pool.shape
    if state.space == "score":
        lo, hi = _split(pool, targets(state.levels))
        half = np.maximum((hi - lo) / 2.0, 1e-12)
        return np.stack([(lo - score) / half, (score - hi) / half], axis=1)
    c = np.array([np.searchsorted(pool[h], score[h], side="right") for h in range(H)])
    d = m - np.array([np.searchsorted(pool[h], score[h], side="left") for h in range(H)])
    a0 = 1.0 / (m + 1)
    s_lo, s_hi = _spread(pool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        beyond_lo = a0 * np.exp(-(pool[:, 0] - score) / s_lo)
        beyond_hi = a0 * np.exp(-(score - pool[:, m - 1]) / s_hi)
    lo = np.where(c >= 1, (c + 1) * a0, np.nan_to_num(beyond_lo, nan=0.0))
    hi = np.where(d >= 1, (d + 1) * a0, np.nan_to_num(beyond_hi, nan=0.0))
    level = np.stack([lo, hi])
    return np.broadcast_to(-level, (len(state.levels), 2, H)).copy()


class _Pool:
    """The residuals folded in so far, sorted per step: rows of a (H, capacity) array (mutable)."""

    def __init__(self, start: np.ndarray, capacity: int) -> None:
        """``start`` (m, H): residuals already folded in; room for ``capacity`` more."""
        self.m = len(start)
        self.values = np.empty((start.shape[1], self.m + capacity))
        self.values[:, : self.m] = np.sort(start, axis=0).T

    def view(self) -> np.ndarray:
        return self.values[:, : self.m]

    def add(self, row: np.ndarray) -> None:
        m, v = self.m, self.values
        for h, x in enumerate(row):
            p = int(np.searchsorted(v[h, :m], x))
            v[h, p + 1 : m + 1] = v[h, p:m]
            v[h, p] = x
        self.m = m + 1

    def remove(self, row: np.ndarray) -> None:
        m, v = self.m, self.values
        for h, x in enumerate(row):
            p = int(np.searchsorted(v[h, :m], x))
            v[h, p : m - 1] = v[h, p + 1 : m]
        self.m = m - 1


# -- walking over windows ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Walk:
    """One pass over windows: per level the scaled bounds each window was issued, and the state
    and pool once every window has been folded in.

    ``lo``, ``hi``: (n_levels, n, H) in scale units (NaN where the pool was empty); ``sizes`` (n,)
    the residuals each window's bounds rested on; ``pool`` (m, H) each column sorted.
    """

    lo: np.ndarray
    hi: np.ndarray
    sizes: np.ndarray
    state: AdaptiveState
    pool: np.ndarray


def walk(
    scores: np.ndarray,
    issue: np.ndarray,
    ready: np.ndarray,
    state: AdaptiveState,
    pool: np.ndarray | None = None,
    window: int | None = None,
) -> Walk:
    """Issue each window's bounds in ``issue`` order, after folding in every window with
    ``ready < issue``; at the end fold in the rest.

    ``scores`` (n, H) signed scaled residuals; ``issue`` (n,) when each window's forecast was made
    and ``ready`` (n,) when its last target was observed, on one clock (rows: ``o`` and
    ``o + H - 1``; or nanoseconds). ``pool`` (m, H): residuals folded in before (none by
    default); ``window``: keep only the newest that many in the pool (needs no starting pool).
    A window with a non-finite score gets bounds but moves nothing.
    """
    scores = np.asarray(scores, dtype=np.float64)
    issue, ready = np.asarray(issue), np.asarray(ready)
    n, H = scores.shape
    if np.any(ready < issue):
        raise ValueError("a window cannot be observed before its forecast was issued")
    start = np.zeros((0, H)) if pool is None else np.asarray(pool, dtype=np.float64)
    if window is not None and len(start):
        raise ValueError("a pool window needs the windows in order: give no starting pool")
    P, fifo, finite = _Pool(start, n), deque(), np.isfinite(scores).all(axis=1)
    z = np.full((n, len(state.levels), 2, H), np.nan)
    issued: list[np.ndarray | None] = [None] * n  # the experts' offsets each window was issued at
    lo = np.full((len(state.levels), n, H), np.nan)
    hi, sizes = lo.copy(), np.zeros(n, dtype=np.int64)
    by_ready, j = np.argsort(ready, kind="stable"), 0

    def fold(k: int) -> None:
        nonlocal state
        if not finite[k]:
            return
        if np.isnan(z[k]).any():  # issued before any residual: no bound to judge, nothing moves
            state = replace(state, windows=state.windows + 1)
        else:
            state = advance(state, z[k], issued[k])
        P.add(scores[k])
        fifo.append(k)
        if window is not None and P.m > window:
            P.remove(scores[fifo.popleft()])

    for i in np.argsort(issue, kind="stable"):
        while j < n and ready[by_ready[j]] < issue[i]:
            fold(int(by_ready[j]))
            j += 1
        sizes[i] = P.m
        lo[:, i], hi[:, i] = bounds(P.view(), state)
        if finite[i] and P.m:
            z[i], issued[i] = exceedance(P.view(), scores[i], state), state.values
    for k in by_ready[j:]:
        fold(int(k))
    return Walk(lo, hi, sizes, state, P.view().T.copy())


def walk_forward(
    calib_scores: np.ndarray,
    calib_origins: np.ndarray,
    span_scores: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    levels: Sequence[float],
    window: int | None = None,
    gammas: Sequence[float] | None = None,
    space: str | None = None,
) -> tuple[dict[float, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Adaptive bounds of every backtest origin, as :func:`forecaster.intervals.walk_forward` gives
    split ones: per level ``(lo (n, H), hi (n, H))`` in scale units, and (n,) the pool sizes.

    The calibration origins (before the span) and the span's are walked in order of origin: origin
    ``o`` sees the residuals and misses of every origin ``o'`` with ``o' + H <= o`` only.
    """
    H = horizon
    scores = np.concatenate([np.asarray(calib_scores).reshape(-1, H), span_scores])
    issue = np.concatenate([calib_origins, origins]).astype(np.int64)
    state = AdaptiveState.start(
        levels, H, GAMMAS if gammas is None else gammas, SPACE if space is None else space
    )
    w = walk(scores, issue, issue + H - 1, state, window=window)
    span = slice(len(calib_origins), None)
    q = {lv: (w.lo[i, span], w.hi[i, span]) for i, lv in enumerate(levels)}
    return q, w.sizes[span]


def update_state(
    state: Calibration,
    scores: np.ndarray,
    issue: np.ndarray | None = None,
    ready: np.ndarray | None = None,
    *,
    levels: Sequence[float] = (80.0, 95.0),
    span_end: str | None = None,
) -> Calibration:
    """The calibration after new windows: their residuals join the pool and the experts move.

    ``scores`` (n, H): the signed scaled residuals of windows observed since the calibration was
    made (every target known), oldest first; ``issue``/``ready`` as in :func:`walk` (default:
    consecutive origins, ``ready = issue + H - 1``). A calibration without an adaptive state
    (split, or saved before) starts one at ``levels``. ``span_end``: the newest window's origin
    time, recorded as the span's end. Pure: the given calibration is not changed.
    """
    # float32 precision, as every residual of a calibration (it round-trips through JSON exactly)
    scores = np.asarray(scores, dtype=np.float32).astype(np.float64).reshape(-1, state.horizon)
    n, H = scores.shape
    issue = np.arange(n) if issue is None else np.asarray(issue)
    ready = issue + H - 1 if ready is None else np.asarray(ready)
    start = state.adaptive if state.adaptive is not None else AdaptiveState.start(levels, H)
    w = walk(scores, issue, ready, start, pool=state.residuals)
    span = state.span
    if span_end is not None:
        span = (span[0] if span else span_end, span_end)
    return replace(state, residuals=w.pool, adaptive=w.state, span=span)
