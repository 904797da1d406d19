"""The network and what it needs (anchors, normalisation); ``models`` never imports ``data``."""

NAME = "gru"
"""The model's name in tables, reports, metrics and the nightly decision (importable without torch)."""
