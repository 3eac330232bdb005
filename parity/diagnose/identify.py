"""Which activation a side computes, found by recomputing the other side's input.

A converter that decomposes an activation (SiLU as ``x * sigmoid(1.702 x)``, hardswish as
``x * relu6(x + 3) / 6``) leaves no single op whose attributes say what it computes. Applied
to the reference side's input, each known activation (and the parametric families, their
parameter fitted from the values) either reproduces the converted side's output or not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import reference

Function = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Identified:
    """A function that reproduces the output: its formula and its neutral attributes."""

    formula: str
    attrs: dict[str, object]


def _gelu(approximation: str) -> Function:
    return lambda x: reference.activation(x, {"activation": "gelu",  # type: ignore[return-value]
                                              "approximation": approximation}, {})


_NAMED: tuple[tuple[str, dict[str, object], Function], ...] = (
    ("silu: x·sigmoid(x)", {"activation": "silu"}, lambda x: x * reference.sigmoid(x)),
    ("hardswish: x·relu6(x + 3)/6", {"activation": "hardswish"},
     lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
    ("gelu (exact, erf)", {"activation": "gelu", "approximation": "none"}, _gelu("none")),
    ("gelu (tanh approximation)", {"activation": "gelu", "approximation": "tanh"},
     _gelu("tanh")),
    ("relu", {"activation": "clip", "clip": (0.0, math.inf)}, lambda x: np.maximum(x, 0)),
    ("relu6", {"activation": "clip", "clip": (0.0, 6.0)}, lambda x: np.clip(x, 0, 6)),
    ("sigmoid", {"activation": "sigmoid"}, reference.sigmoid),
    ("tanh", {"activation": "tanh"}, np.tanh),
    ("hardsigmoid: relu6(x + 3)/6", {"activation": "hardsigmoid", "alpha": 1 / 6,
                                     "beta": 0.5}, lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    ("mish: x·tanh(softplus(x))", {"activation": "mish"},
     lambda x: x * np.tanh(np.logaddexp(0, x))),
    ("identity", {"activation": "identity"}, lambda x: x),
)


def activation(x: np.ndarray, y: np.ndarray, fits: Callable[[np.ndarray], bool]
               ) -> Identified | None:
    """The first known activation ``f`` with ``fits(f(x))`` (``fits`` judges against ``y``):
    the named ones, then ``x·sigmoid(βx)`` and LeakyReLU with their parameter fitted."""
    x, y = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    if x.shape != y.shape:
        return None
    for formula, attrs, function in _NAMED:
        if fits(function(x)):
            return Identified(formula, attrs)
    beta = _swish_beta(x, y)
    if beta is not None and fits(x * reference.sigmoid(beta * x)):
        known = " (the sigmoid approximation of GELU)" if abs(beta - 1.702) < 5e-3 else ""
        return Identified(f"x·sigmoid({beta:.4g}·x){known}", {"activation": "swish",
                                                               "beta": beta})
    slope = _leaky_slope(x, y)
    if slope is not None and fits(np.where(x >= 0, x, slope * x)):
        return Identified(f"leaky_relu with slope {slope:.4g}",
                          {"activation": "leaky_relu", "slope": slope})
    return None


def _swish_beta(x: np.ndarray, y: np.ndarray) -> float | None:
    """β of ``y = x·sigmoid(βx)``, the median of its per-element solutions."""
    ratio = np.divide(y, x, out=np.full_like(y, np.nan), where=np.abs(x) > 0.25)
    usable = (ratio > 0.02) & (ratio < 0.98)
    if usable.sum() < 4:
        return None
    estimates = np.log(ratio[usable] / (1 - ratio[usable])) / x[usable]
    return float(np.median(estimates))


def _leaky_slope(x: np.ndarray, y: np.ndarray) -> float | None:
    negative = x < -1e-3
    if negative.sum() < 4:
        return None
    return float(np.median(y[negative] / x[negative]))
