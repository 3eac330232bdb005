"""Mask fills at an ordinary large number (``-1e4``, ``-1e9``): found by the gap below them.

Older BERT and GPT-2 code, and many converters, mask attention scores by adding ``-1e4``
(or filling with ``-1e9``) instead of ``finfo.min``. Those values are not numbers the
computation rounds: after the softmax they are exactly zero, whatever their value. They sit
far beyond every other value of the tensor, with nothing in between, and a pair's RMS scale
measured over them (5e3 where the open scores are about 1) hides the error of the values
that matter. :func:`find` recognises such a fill from a histogram of binary exponents: a
band of at least ``GAP_BINADES`` empty binades (a factor of 64) above the tensor's values
with only negative values above it, and no value at all within ``CLEAR_BINADES`` (8x)
below the fill. The mask itself (``(1 - mask) * -1e4``: zeros and the fill) has no values
below the gap but zeros; there the fill must be at least ``ZERO_BULK_FILL`` (128) in
magnitude, where ``exp`` of it is zero in float32, to count as one. :mod:`parity.metrics`
then treats values beyond the gap like saturated ones: compared by place and sign, left out
of the sums.

The histogram is taken on a sample of both sides (every ``SAMPLE_STRIDE``-th value of a
large tensor: a fill on a thousandth of the values is still seen), so the fill found does not
depend on which side is A (``-1e4`` on one side and ``finfo.min`` on the other are both
above the same gap); the exact check (nothing within 8x below the fill, nothing positive beyond
that) is made on every value by the second pass that uses the fill.
A sample may miss the largest ordinary values, hence the wider gap asked of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GAP_BINADES = 6
CLEAR_BINADES = 3
ZERO_BULK_FILL = 2.0 ** 7
SAMPLE_STRIDE = 61  # prime: never in step with a power-of-two axis (a mask on the last keys)
_SMALL_TENSOR = 4096  # tensors this small are histogrammed whole
_BINS = 4096  # float64: sign bit and 11 exponent bits
_EXPONENTS = 2048
_BIAS = 1023


@dataclass(frozen=True)
class Fill:
    """A mask fill: every value at or beyond ``-ceiling`` is a mask, every other value is
    below ``ceiling / 2**CLEAR_BINADES`` in magnitude (the C metrics kernel checks this on
    every value)."""

    ceiling: float

    @property
    def floor(self) -> float:
        """Where the clear band below the fill starts: an ordinary value is below it."""
        return math.ldexp(self.ceiling, -CLEAR_BINADES)

class Exponents:
    """Counts of the binary exponent (with sign) of a sample of a tensor's values."""

    def __init__(self) -> None:
        self.counts = np.zeros(_BINS, dtype=np.int64)

    def add(self, x: np.ndarray) -> None:
        """Count a sample of the tensor ``x`` (its values taken to float64)."""
        flat = x.reshape(-1)
        sample = flat if flat.size <= _SMALL_TENSOR else flat[::SAMPLE_STRIDE]
        bits = np.ascontiguousarray(sample, dtype=np.float64).view(np.uint64) >> np.uint64(52)
        self.counts += np.bincount(bits.astype(np.intp), minlength=_BINS)


def find(exponents: Exponents) -> Fill | None:
    """The mask fill the histogram shows, if any: the lowest band of ``GAP_BINADES`` or
    more empty binades that has values below it and only negative values above it; or,
    where the only other values are zeros, negative values. Either way the fill is at
    least ``ZERO_BULK_FILL`` in magnitude: a smaller one is not zero after ``exp`` (and
    one value far from a few others, -0.13 beside 0.0013, is no mask)."""
    positive = exponents.counts[:_EXPONENTS].copy()
    negative = exponents.counts[_EXPONENTS:].copy()
    zeros = positive[0] + negative[0]
    for side in (positive, negative):
        side[0] = side[-1] = 0  # zeros and subnormals; infinities and NaN
    occupied = np.flatnonzero(positive + negative)
    if occupied.size == 0:
        return None
    lowest = math.ldexp(1.0, int(occupied[0]) - _BIAS)
    if zeros and not positive.any() and lowest >= ZERO_BULK_FILL:
        return Fill(lowest)
    gaps = np.diff(occupied) - 1
    for k in np.flatnonzero(gaps >= GAP_BINADES):
        bottom = int(occupied[k + 1])
        ceiling = math.ldexp(1.0, bottom - _BIAS)
        if ceiling >= ZERO_BULK_FILL and not positive[bottom:].any():
            return Fill(ceiling)
    return None
