"""A layer's constant read from its values (diagnose/constants.py)."""

import numpy as np

from parity.diagnose.constants import _uniform

_X = np.random.default_rng(0).uniform(0.1, 2.0, (2, 16))


def test_an_added_constant_is_read_from_input_and_output():
    assert abs(_uniform(_X, _X + 1e-6, "add") - 1e-6) < 1e-12


def test_a_scale_is_read_too():
    assert abs(_uniform(_X, _X * 0.125, "mul") - 0.125) < 1e-12


def test_a_bias_per_channel_is_not_one_constant():
    assert _uniform(_X, _X + np.arange(16) * 0.1, "add") is None


def test_a_gamma_per_channel_is_not_one_scale():
    assert _uniform(_X, _X * np.linspace(0.5, 1.5, 16), "mul") is None
