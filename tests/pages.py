"""What a written HTML page holds: its Plotly figures' data and layout, and plotly.js inlined."""

from __future__ import annotations

import base64
import json
import re

import numpy as np


def decode(value):
    """Plotly's JSON stores numpy arrays as base64 typed arrays: {"dtype": "f8", "bdata": ...}."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return out.reshape(value["shape"]) if "shape" in value else out
    return np.asarray(value)


def plots_in(page: str) -> list[tuple[list, dict]]:
    """(data, layout) of every Plotly.newPlot("<div id>", data, layout, ...) call in the page."""
    decoder = json.JSONDecoder()
    plots = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        data, end = decoder.raw_decode(page, match.end())
        layout, _ = decoder.raw_decode(page, end + page[end:].index("{"))
        plots.append((data, layout))
    return plots


def assert_plotly_inlined(page: str) -> None:
    """plotly.js is in the page itself: no <script src=...> (CDN or file), and its banner is inline."""
    assert not re.search(r"<script[^>]*\bsrc\s*=", page)
    assert re.search(r"<script[^>]*>\s*/\*\*?\s*\* plotly\.js v\d", page)
    assert len(page) > 1_000_000
