"""Data layer: sources, cache, validation into the canonical :class:`Series`, windows."""

from forecaster.data.series import Series, require_length, validate

__all__ = ["Series", "require_length", "validate"]
