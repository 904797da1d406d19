"""Whether a saved model's state is usable: every number finite, the calibration the model's horizon.

A version whose weights, covariate scaler or interval calibration hold NaN or infinity would
forecast NaN (or infinite intervals) and write them out with exit 0; it is corrupt, and loading it
is a one-line :class:`~forecaster.errors.ModelError` that names the way back (``forecast models
rollback``). Plain arrays and tensors in, so ``models`` stays free of ``data``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from forecaster.errors import ModelError


def check_state(
    folder: Path,
    *,
    weights: Mapping[str, torch.Tensor],
    normalization: Mapping[str, Sequence[float]],
    calibration: np.ndarray | None,
    horizon: int,
) -> None:
    """Raise a one-line ModelError naming the file when the saved state of ``folder`` is unusable.

    ``weights``: the loaded state_dict (model.pt); ``normalization``: the covariate scaler's
    lists (normalization.json: ``mean``, ``std``, units of each covariate); ``calibration``: the
    (n, H) scaled residuals of calibration.json, or None; ``horizon``: the model's H in steps.
    """
    check_weights(folder, "model.pt", weights)
    for name, values in normalization.items():
        if not np.isfinite(np.asarray(values, dtype=np.float64)).all():
            raise corrupt(folder, "normalization.json", f"its {name} holds NaN or infinite values")
    if calibration is None:
        return
    if calibration.ndim != 2 or calibration.shape[1] != horizon:
        steps = calibration.shape[1] if calibration.ndim == 2 else "no"
        raise corrupt(
            folder,
            "calibration.json",
            f"it calibrates {steps} steps, the model forecasts {horizon}",
        )
    if not np.isfinite(calibration).all():
        raise corrupt(folder, "calibration.json", "its residuals hold NaN or infinite values")


def check_weights(folder: Path, name: str, weights: Mapping[str, torch.Tensor]) -> None:
    """Raise a one-line ModelError when a weights file ``name`` (a state_dict) holds NaN or inf."""
    bad = [key for key, t in weights.items() if t.is_floating_point() and not _finite(t)]
    if bad:
        raise corrupt(folder, name, f"weights {bad[0]} hold NaN or infinite values")


def _finite(tensor: torch.Tensor) -> bool:
    return bool(torch.isfinite(tensor).all())


def corrupt(folder: Path, name: str, what: str) -> ModelError:
    """The one-line error for a version file that cannot be served: it names the rollback."""
    versions = folder.parent
    key = versions.parent.name if versions.name == "versions" else "SERIES"
    return ModelError(
        f"{folder / name} is corrupt ({what}), so the model would forecast nonsense — return to "
        f"the previous champion with `forecast models rollback {key}`, or retrain (forecast fit)"
    )
