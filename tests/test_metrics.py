import numpy as np
import pytest

from parity.metrics import Tolerance, compare_arrays, squeeze_to_common


@pytest.mark.parametrize("scale", [0.0, 1e-7, 1e-5, 1e-3])
def test_pass_fail_follows_numpy_allclose(scale):
    rng = np.random.default_rng(0)
    b = rng.standard_normal((4, 8)).astype(np.float32)
    a = b + scale * rng.standard_normal(b.shape).astype(np.float32)
    tol = Tolerance(atol=1e-5, rtol=1e-5)
    assert compare_arrays(a, b, tol).passed == np.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_metrics_values():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 2.5, 3.0])
    m = compare_arrays(a, b, Tolerance())
    assert m.max_abs == pytest.approx(0.5)
    assert m.mean_abs == pytest.approx(0.5 / 3)
    assert m.max_rel == pytest.approx(0.2)
    assert m.cosine == pytest.approx(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
    assert not m.passed


def test_nan_on_both_sides_is_reported_and_fails():
    a = np.array([1.0, np.nan])
    b = np.array([1.0, np.nan])
    m = compare_arrays(a, b, Tolerance())
    assert (m.nan_a, m.nan_b) == (1, 1)
    assert not m.passed


def test_inf_is_counted():
    m = compare_arrays(np.array([np.inf, 1.0]), np.array([1.0, 1.0]), Tolerance())
    assert m.inf_a == 1 and not m.passed


def test_zero_tensors_have_cosine_one():
    assert compare_arrays(np.zeros(3), np.zeros(3), Tolerance()).cosine == 1.0


def test_squeeze_to_common_reconciles_singleton_dims():
    a, b = np.ones((1, 128)), np.ones((1, 128, 1, 1))
    common = squeeze_to_common(a, b)
    assert common is not None and common[0].shape == common[1].shape
    assert squeeze_to_common(np.ones((1, 3, 4)), np.ones((1, 4, 3))) is None
