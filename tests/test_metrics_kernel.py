"""The C metrics kernel against a whole-array numpy statement of the same metrics.

The kernel sums in blocks of four lanes, sends a block holding a special value (NaN, an
infinity, a saturated value) through its scalar path, and ends each row one value at a
time; random shapes with odd widths, every float dtype and special values at random
places cover each of those paths and their seams.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity.metrics import Metrics, Tolerance, measure, saturation

DTYPES = (np.float16, np.float32, np.float64)


def _reference(a: np.ndarray, b: np.ndarray, tol: Tolerance | None) -> dict[str, float]:
    """The metrics of ``a`` against ``b`` as numpy computes them over whole arrays."""
    x, y = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    nan_x, nan_y = np.isnan(x), np.isnan(y)
    with np.errstate(invalid="ignore"):
        sat_x, sat_y = np.abs(x) >= saturation(a.dtype), np.abs(y) >= saturation(b.dtype)
    valid = ~(nan_x | nan_y | sat_x | sat_y)
    masked = sat_x & sat_y & (np.signbit(x) == np.signbit(y))
    agree = (nan_x & nan_y) | masked
    unmatched = int((~valid & ~agree).sum())
    d, yv = x[valid] - y[valid], y[valid]
    count = max(int(valid.sum()), 1)
    out = {
        "max_abs": math.inf if unmatched else float(np.abs(d).max(initial=0.0)),
        "mean_abs": float(np.abs(d).sum()) / count,
        "max_rel": float((np.abs(d) / np.maximum(np.abs(yv), 1e-12)).max(initial=0.0)),
        "rms_a": math.sqrt(float(np.sum(x[valid] ** 2)) / count),
        "rms_b": math.sqrt(float(np.sum(yv ** 2)) / count),
        "rms_diff": math.sqrt(float(np.sum(d ** 2)) / count),
        "nan_a": int(nan_x.sum()), "nan_b": int(nan_y.sum()),
        "inf_a": int(np.isinf(x).sum()), "inf_b": int(np.isinf(y).sum()),
        "unmatched": unmatched, "masked": int(masked.sum()),
    }
    if tol is not None:
        out["within"] = bool(np.all(np.isclose(x, y, tol.rtol, tol.atol, equal_nan=True)))
    return out


def _assert_matches(m: Metrics, expected: dict[str, float]) -> None:
    for name, value in expected.items():
        got = getattr(m, name)
        if isinstance(value, float) and math.isfinite(value):
            assert got == pytest.approx(value, rel=1e-9, abs=1e-300), name
        else:
            assert got == value, name


_SPECIAL = st.sampled_from(["nan", "inf", "-inf", "max", "-max"])


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, Tolerance | None]:
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 4)),
             draw(st.integers(1, 13)))
    dtype_a, dtype_b = draw(st.sampled_from(DTYPES)), draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    b = rng.standard_normal(shape) * 10.0 ** draw(st.integers(-3, 3))
    a = b + rng.standard_normal(shape) * draw(st.sampled_from([0.0, 1e-6, 1e-3, 1.0]))
    a, b = a.astype(dtype_a), b.astype(dtype_b)
    for side in draw(st.lists(st.tuples(st.booleans(), st.integers(0, a.size - 1), _SPECIAL),
                              max_size=6)):
        target, index, kind = (a if side[0] else b), side[1], side[2]
        big = np.finfo(target.dtype).max
        target.reshape(-1)[index] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf,
                                     "max": big, "-max": -big}[kind]
    tol = draw(st.sampled_from([None, Tolerance(), Tolerance(1e-2, 1e-2)]))
    return a, b, tol


@settings(max_examples=300, deadline=None)
@given(_pairs())
def test_kernel_matches_whole_array_numpy(pair):
    a, b, tol = pair
    _assert_matches(measure(a, b, tol)[0], _reference(a, b, tol))


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_non_float_inputs_are_measured_as_float64(dtype):
    b = np.arange(24).reshape(1, 2, 3, 4).astype(dtype)
    a = b.copy()
    a.reshape(-1)[5] = 1
    _assert_matches(measure(a, b, Tolerance())[0], _reference(a, b, Tolerance()))


def test_a_strided_view_is_measured_like_its_copy():
    rng = np.random.default_rng(0)
    b = rng.standard_normal((1, 4, 9, 10)).astype(np.float32)
    a = b + np.float32(1e-3)
    view_a, view_b = a.transpose(0, 1, 3, 2), b.transpose(0, 1, 3, 2)
    assert measure(view_a, view_b)[0] == measure(view_a.copy(), view_b.copy())[0]


def test_rows_wider_than_a_cache_still_sum_in_float64():
    rng = np.random.default_rng(3)
    b = rng.standard_normal((1, 3, 300, 1000)).astype(np.float32)
    a = b + rng.standard_normal(b.shape).astype(np.float32) * 1e-3
    m, groups = measure(a, b)
    d = a.astype(np.float64) - b
    assert m.max_abs == pytest.approx(np.abs(d).max())
    assert m.rms_diff == pytest.approx(np.sqrt(np.mean(d ** 2)))
    np.testing.assert_allclose(groups.msq_diff, np.mean(d ** 2, axis=(0, 2, 3)), rtol=1e-9)


def test_one_value_far_below_another_is_no_mask_fill():
    """Found by hypothesis: -0.13 against 0.0013 has a 7-binade gap with only a negative
    value above it, yet is no mask (its exp is not zero): compared as it is."""
    a = np.array([[[[-0.1309]]]], dtype=np.float16)
    b = np.array([[[[0.001257]]]], dtype=np.float16)
    _assert_matches(measure(a, b, None)[0], _reference(a, b, None))
