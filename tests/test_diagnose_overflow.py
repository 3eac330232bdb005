"""When inf on the float16 side is an overflow of its own (diagnose/overflow.py)."""

import numpy as np

from parity.diagnose.overflow import _overflowed


def test_inf_where_the_float32_side_passes_65504_is_an_overflow():
    full = np.array([1.0, 7e4, -2e5, 3.0], dtype=np.float32)
    half = np.array([1.0, np.inf, -np.inf, 3.0], dtype=np.float16)
    assert _overflowed(full, half, 65504.0) == (2, 2, 2e5)


def test_inf_received_from_upstream_is_not():
    """Values well inside float16's range that B holds as inf came from an earlier layer."""
    full = np.array([1.0, 300.0, -2.0], dtype=np.float32)
    half = np.array([1.0, np.inf, np.nan], dtype=np.float16)
    assert _overflowed(full, half, 65504.0) is None


def test_finite_values_are_not():
    full = np.array([1.0, 7e4], dtype=np.float32)
    half = np.array([1.0, 65504.0], dtype=np.float16)
    assert _overflowed(full, half, 65504.0) is None
