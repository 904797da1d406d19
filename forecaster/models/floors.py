"""The smallest scale a window may get, shared by the network's normalisation and the intervals.

Plain numbers, no torch: :mod:`forecaster.intervals` (imported by the config's validators) uses
them, and ``forecast data ...`` must start without loading torch.
"""

REL_FLOOR = 1e-3
"""Smallest scale relative to |loc|: a flat window must not blow the targets up."""
ABS_FLOOR = 1e-6
"""Smallest scale in absolute units."""
