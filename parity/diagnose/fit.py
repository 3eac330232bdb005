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
