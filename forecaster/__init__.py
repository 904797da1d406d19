"""forecaster: time-series forecasting for stock prices and weather.

The public API lives in :mod:`forecaster.api`; the ``forecast`` command is a thin layer over it.
"""

from forecaster.errors import ForecasterError

__version__ = "0.1.0"
__all__ = ["ForecasterError", "__version__"]
