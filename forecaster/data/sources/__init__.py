"""Data sources. Each turns a request into a raw frame that :func:`forecaster.data.series.validate` accepts."""
