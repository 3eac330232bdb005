import numpy as np
import pytest

from parity.metrics import Tolerance, compare_arrays, measure, squeeze_to_common


@pytest.mark.parametrize("scale", [0.0, 1e-7, 1e-5, 1e-3])
def test_pass_fail_follows_numpy_allclose(scale):
    rng = np.random.default_rng(0)
    b = rng.standard_normal((4, 8)).astype(np.float32)
    a = b + scale * rng.standard_normal(b.shape).astype(np.float32)
    tol = Tolerance(atol=1e-5, rtol=1e-5)
    assert compare_arrays(a, b, tol).within == np.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_metrics_values():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 2.5, 3.0])
    m = compare_arrays(a, b, Tolerance())
    assert m.max_abs == pytest.approx(0.5)
    assert m.mean_abs == pytest.approx(0.5 / 3)
    assert m.max_rel == pytest.approx(0.2)
    assert m.cosine == pytest.approx(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
    assert m.within is False and compare_arrays(a, b).within is None


def test_nan_at_the_same_places_is_reported_and_agrees():
    a = np.array([1.0, np.nan])
    b = np.array([1.0, np.nan])
    m = compare_arrays(a, b, Tolerance())
    assert (m.nan_a, m.nan_b) == (1, 1)
    assert m.within and m.unmatched == 0 and m.error == 0.0
    assert m.within == np.allclose(a, b, equal_nan=True)


def test_nan_at_different_places_is_counted_as_unmatched():
    m = compare_arrays(np.array([np.nan, 1.0, 2.0]), np.array([1.0, np.nan, 2.0]), Tolerance())
    assert (m.nan_a, m.nan_b, m.unmatched) == (1, 1, 2)
    assert not m.within and m.error == float("inf")


def test_inf_is_counted():
    m = compare_arrays(np.array([np.inf, 1.0]), np.array([1.0, 1.0]), Tolerance())
    assert m.inf_a == 1 and not m.within


def test_zero_tensors_have_cosine_one():
    assert compare_arrays(np.zeros(3), np.zeros(3), Tolerance()).cosine == 1.0


def test_squeeze_to_common_reconciles_singleton_dims():
    a, b = np.ones((1, 128)), np.ones((1, 128, 1, 1))
    common = squeeze_to_common(a, b)
    assert common is not None and common[0].shape == common[1].shape
    assert squeeze_to_common(np.ones((1, 3, 4)), np.ones((1, 4, 3))) is None


def test_equal_infinities_agree_as_in_allclose():
    a = np.array([-np.inf, 1.0, 2.0])
    m = compare_arrays(a, a.copy(), Tolerance())
    assert m.within and m.unmatched == 0 and m.error == 0.0
    assert m.within == np.allclose(a, a.copy())


def test_float16_squares_do_not_overflow():
    b = np.full((2, 4, 8, 8), 60000.0, dtype=np.float16)
    a = b.copy()
    a[0, 0, 0, 0] = 59968.0  # one float16 step below
    m = compare_arrays(a, b)
    assert np.isfinite(m.rms_b) and m.rms_b == pytest.approx(60000.0)
    assert m.error == pytest.approx(32.0 / np.sqrt(b.size) / 60000.0)


def test_error_is_relative_to_scale():
    rng = np.random.default_rng(1)
    b = rng.standard_normal((1, 8, 16, 16))
    noise = 1e-6 * rng.standard_normal(b.shape)
    small = compare_arrays(b + noise, b).error
    large = compare_arrays(1e3 * (b + noise), 1e3 * b).error
    assert small == pytest.approx(large, rel=1e-6)
    assert small == pytest.approx(np.sqrt(np.mean(noise ** 2)) / np.sqrt(np.mean(b ** 2)),
                                  rel=1e-2)


def test_groups_are_channels_with_their_spread_and_error():
    rng = np.random.default_rng(2)
    b = rng.standard_normal((2, 3, 8, 8)) * np.array([1.0, 2.0, 4.0])[None, :, None, None]
    a = b.copy()
    a[:, 2] += 0.5
    metrics, groups = measure(a, b)
    assert groups.per_channel and groups.count.tolist() == [128, 128, 128]
    np.testing.assert_allclose(groups.var_b, np.moveaxis(b, 1, 0).reshape(3, -1).var(axis=1))
    np.testing.assert_allclose(groups.msq_diff, [0.0, 0.0, 0.25], atol=1e-12)
    np.testing.assert_allclose(groups.max_diff, [0.0, 0.0, 0.5], atol=1e-12)
    assert metrics.max_abs == pytest.approx(0.5)


def test_a_small_channel_axis_makes_one_group():
    _, groups = measure(np.ones((1, 128)), np.ones((1, 128)))
    assert not groups.per_channel and groups.count.tolist() == [128]


def test_squeeze_to_common_reconciles_merged_dims():
    """A converter's (1, H*W, C) LayerNorm or (B*heads, L, L) scores against torch's
    (1, H, W, C) and (B, heads, L, L): the same values in the same order."""
    for fine, coarse in (((1, 8, 8, 8), (1, 64, 8)), ((4, 2, 4, 4), (8, 4, 4))):
        a = np.arange(np.prod(fine), dtype=np.float32).reshape(fine)
        common = squeeze_to_common(a, a.reshape(coarse))
        assert common is not None and common[0].shape == common[1].shape == fine
        assert squeeze_to_common(a.reshape(coarse), a) is not None
    assert squeeze_to_common(np.ones((2, 3)), np.ones((3, 2))) is None
    assert squeeze_to_common(np.ones((4, 6)), np.ones((8, 3))) is None
