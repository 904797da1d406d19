"""kill -9 at points spread over a nightly run: the champion survives and the next run recovers.

A real ``forecast retrain`` child process SIGKILLs itself at each point (FORECASTER_FAULT); the
Yahoo network boundary is faked with the bundled AAPL snapshot in yfinance's recorded shape.
The full list of points runs in ``benchmarks/faults.py``.
"""

from __future__ import annotations

import faults


def test_kill_points_quick_subset_never_lose_the_champion(scratch, runner):
    world = faults.World(scratch / "kill", runner)
    first = faults.first_night(world)
    assert first and world.store().resolve(faults.KEY).version == first
    points = [p for p in faults.KILL_POINTS if p[0] in faults.QUICK_POINTS]
    phases = {phase.split(" (")[0] for _, phase, _ in points}
    assert phases >= {"data refresh", "training", "save", "promote", "prune"}
    results = faults.kill_points(world, points, pairs=False)
    failed = [(r.point, r.detail) for r in results if not r.ok]
    assert not failed, failed
    assert len(results) == len(faults.QUICK_POINTS)
