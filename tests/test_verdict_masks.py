"""Mask fills at an ordinary large number (-1e4, -1e9): left out like saturated values.

Unit cases on synthetic scores (parity.masks, parity.metrics); the real BERT exported with
an additive -1e4 mask is in tests/test_verdict_masks_real.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from parity.masks import Exponents, find
from parity.metrics import Tolerance, measure
from parity.verdict.statistic import MEDIAN, reduce

FMIN32 = float(np.finfo(np.float32).min)
KEYS = 64


def _scores(fill: float, noise: float = 0.0, masked: slice = slice(48, None),
            seed: int = 0) -> np.ndarray:
    """(1, 4, 64, 64) attention scores about 1 in size plus an additive mask of ``fill``
    on the keys ``masked`` (padding), side B's with relative ``noise``."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((1, 4, KEYS, KEYS))
    scores = scores * (1.0 + noise * rng.standard_normal(scores.shape))
    mask = np.zeros(KEYS)
    mask[masked] = fill
    return (scores + mask).astype(np.float32)


@pytest.mark.parametrize("fill", [-1e4, -1e9, -65504.0, -3e4])
def test_a_mask_fill_is_left_out_and_the_open_scores_judged_on_their_scale(fill):
    metrics = measure(_scores(fill), _scores(fill))[0]
    assert metrics.error == 0.0 and metrics.masked == 4 * KEYS * 16
    noisy = measure(_scores(fill, noise=1e-3), _scores(fill))[0]
    assert noisy.unmatched == 0 and noisy.masked == 4 * KEYS * 16
    assert noisy.scale == pytest.approx(1.0, rel=0.1)  # the open scores', not 5e3
    assert noisy.error == pytest.approx(1e-3, rel=0.1)  # their error, not 1e-3 / 5e3


def test_without_the_fill_the_mask_would_hide_the_error():
    a, b = _scores(-1e4, noise=1e-3), _scores(-1e4)
    open_keys = slice(0, 48)
    plain = measure(a[..., open_keys], b[..., open_keys])[0]
    masked = measure(a, b)[0]
    assert masked.error == pytest.approx(plain.error, rel=1e-6)
    hidden = float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2))
                   / np.sqrt(np.mean(b.astype(np.float64) ** 2)))
    assert hidden < plain.error / 1000  # what the RMS over the fill used to report


@pytest.mark.parametrize(("fill_a", "fill_b"), [(-1e4, FMIN32), (FMIN32, -1e4), (-1e4, -1e9),
                                                (-np.inf, -1e4)])
def test_two_fills_agree_whichever_side_has_which(fill_a, fill_b):
    metrics = measure(_scores(fill_a), _scores(fill_b))[0]
    assert metrics.unmatched == 0 and metrics.error == 0.0


def test_a_fill_moved_by_one_key_fails_with_its_count():
    metrics = measure(_scores(-1e4, masked=slice(47, 63)), _scores(-1e4))[0]
    assert metrics.error == np.inf
    assert metrics.unmatched == 2 * 4 * KEYS  # key 47 masked on A only, key 63 on B only


def test_a_positive_or_small_fill_is_an_ordinary_value():
    for fill in (1e4, -20.0):  # positive; within 64x of the scores (no gap)
        metrics = measure(_scores(fill, noise=1e-3), _scores(fill))[0]
        assert metrics.masked == 0 and metrics.mask_limit == np.inf


@pytest.mark.parametrize(("place", "value"), [(0, 700.0), (1, -2000.0), (1, 2e4)])
def test_a_value_near_the_fill_cancels_it(place, value):
    """In the sample (place 0: a gap under 64x), or not (place 1) but within 8x of the
    fill, or positive and as large: not a clean mask, the pair is measured as a whole."""
    a, b = _scores(-1e4, noise=1e-3), _scores(-1e4)
    a[0, 0, 0, place] = value
    metrics = measure(a, b)[0]
    assert metrics.masked == 0 and metrics.scale > 1e3


def test_ordinary_activations_have_no_fill():
    rng = np.random.default_rng(2)
    for values in (rng.standard_normal(100_000), rng.standard_cauchy(100_000),
                   -np.abs(rng.standard_normal(100_000)) * 1e4,
                   np.exp(rng.uniform(-30, 10, 100_000))):
        exponents = Exponents()
        exponents.add(values.reshape(100, -1))
        assert find(exponents) is None


def test_statistics_and_allclose_leave_the_fill_out_alike():
    a, b = _scores(-1e4, noise=1e-3), _scores(-1e4)
    metrics = measure(a, b, Tolerance(atol=1e-2, rtol=0))[0]
    assert metrics.within is np.allclose(a, b, rtol=0, atol=1e-2)
    open_keys = slice(0, 48)
    assert reduce(MEDIAN, 0.99, a, b, metrics.mask_limit).absolute == pytest.approx(
        float(np.median(np.abs(a[..., open_keys].astype(np.float64) - b[..., open_keys]))))


def test_the_mask_tensor_itself_is_a_fill_over_zeros_when_exp_of_it_is_zero():
    mask = np.zeros((1, 1, 1, KEYS), np.float32)
    mask[..., 48:] = -1e4
    metrics = measure(mask, mask.copy())[0]
    assert metrics.masked == 16 and metrics.scale == 0.0 and metrics.error == 0.0
    small = np.where(mask < 0, -1.0, 0.0).astype(np.float32)  # {0, -1}: ordinary values
    assert measure(small, small * 1.05)[0].masked == 0
