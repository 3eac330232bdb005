"""Whether one array reproduces another, up to a tolerance relative to the target's range."""

from __future__ import annotations

import numpy as np

FIT = 1e-3  # largest misfit, relative to the target's range, that still counts as a match


def fits(x: np.ndarray, target: np.ndarray) -> bool:
    """``x`` has ``target``'s size and matches it, reshaped, within ``FIT`` of its range."""
    if x.size != target.size:
        return False
    scale = max(float(np.abs(target).max(initial=0.0)), 1e-12)
    return float(np.abs(x.reshape(target.shape) - target).max(initial=0.0)) <= FIT * scale


def reversed_channels_residual(wa: np.ndarray, wb: np.ndarray) -> float | None:
    """Largest difference between ``wb`` and ``wa`` with its input channels (axis 1) reversed,
    when that reversal makes 4-D convolution weights agree (and they differ as they are);
    else None."""
    if wa.ndim != 4 or wa.shape != wb.shape or wa.shape[1] < 2 or np.allclose(wa, wb):
        return None
    scale = max(float(np.abs(wa).max()), 1e-12)
    residual = float(np.abs(np.flip(wa, axis=1) - wb).max())
    return residual if residual <= 1e-4 * scale + 1e-6 else None
