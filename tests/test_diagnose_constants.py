"""A layer's constant read from its values (diagnose/constants.py)."""

import numpy as np

from parity.diagnose.constants import _uniform

_X = np.random.default_rng(0).uniform(0.1, 2.0, (2, 16))


def test_an_added_constant_is_read_from_input_and_output():
    assert abs(_uniform(_X, _X + 1e-6, "add").value - 1e-6) < 1e-12


def test_a_scale_is_read_too():
    assert abs(_uniform(_X, _X * 0.125, "mul").value - 0.125) < 1e-12


def test_a_bias_per_channel_is_not_one_constant():
    assert _uniform(_X, _X + np.arange(16) * 0.1, "add") is None


def test_a_gamma_per_channel_is_not_one_scale():
    assert _uniform(_X, _X * np.linspace(0.5, 1.5, 16), "mul") is None


def test_an_eps_lost_in_float32_rounding_is_still_one_constant():
    """T5's 1e-6 added to mean squares near 1: each sum rounds to a float32 step of 1.2e-7,
    so the measured steps spread by 6% around 1e-6; shown to the digits that rounding
    leaves (1e-06), and told apart from 1e-5."""
    x = _X.astype(np.float32)
    small, large = _uniform(x, x + np.float32(1e-6), "add"), _uniform(x, x + np.float32(1e-5),
                                                                       "add")
    assert small is not None and large is not None
    assert np.ptp((x + np.float32(1e-6)).astype(np.float64) - x) > 0.05 * 1e-6
    assert small.shown() == "1e-06" and large.shown() == "1e-05"
    assert abs(large.value - small.value) > small.rounding + large.rounding
