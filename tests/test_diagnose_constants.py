"""A layer's constant read from its values (diagnose/constants.py)."""

import numpy as np

from parity.diagnose.constants import _tensor_gap, _uniform

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


_POSITIONS = np.broadcast_to(np.arange(16.0), (1, 4, 16))  # BLOOM's positions, per head
_SLOPES = np.array([0.25, 0.0625, 0.015625, 0.00390625])[None, :, None]


def test_a_table_with_its_heads_reversed_is_named():
    """ALiBi: one slope per head times the positions; B's slopes in reverse order."""
    gap = _tensor_gap([(_POSITIONS, _POSITIONS * _SLOPES),
                       (_POSITIONS, _POSITIONS * _SLOPES[:, ::-1])], "mul")
    assert gap is not None and gap.reversed_axis == 1
    assert (gap.a, gap.b) == (0.25, 0.00390625)


def test_a_table_that_differs_otherwise_names_no_axis():
    gap = _tensor_gap([(_POSITIONS, _POSITIONS * _SLOPES),
                       (_POSITIONS, _POSITIONS * _SLOPES * 1.1)], "mul")
    assert gap is not None and gap.reversed_axis is None


def test_equal_tables_are_no_gap():
    assert _tensor_gap([(_POSITIONS, _POSITIONS * _SLOPES)] * 2, "mul") is None
