"""A reduced-precision side that overflows: where the float32 side's values exceed the
largest number float16 holds (65504), the float16 side computes inf, and NaN after it.

Rounding (:func:`.runtime.precision`) is a tolerance question; an overflow is not: the
layer cannot run in that dtype on these activations. The classic case is GELU's tanh form,
whose ``x ** 3`` passes 65504 once ``x`` passes 40.
"""

from __future__ import annotations

import numpy as np

from ..report import SHAPE_MISMATCH, Hint, PairResult
from .codes import FLOAT_OVERFLOW
from .evidence import Evidence
from .runtime import lowest_precision

_OVERFLOWED_SHARE = 0.5  # of the reduced side's non-finite elements, where the other exceeds
_LARGEST = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38}


def float_overflow(evidence: Evidence) -> list[Hint]:
    """The first divergence root where the reduced-precision side is inf or NaN at elements
    the float32 side holds finite and beyond the reduced dtype's range."""
    dtype, side = lowest_precision(evidence)
    if not side:
        return []
    largest = _LARGEST[dtype]
    for pair in evidence.roots:
        values = evidence.values(pair)
        if pair.status == SHAPE_MISMATCH or pair.is_input or values is None:
            continue
        full, reduced = values if side == "B" else values[::-1]
        found = _overflowed(full, reduced, largest)
        if found is not None:
            return [_hint(pair, side, dtype, largest, *found)]
    return []


def _overflowed(full: np.ndarray, reduced: np.ndarray, largest: float
                ) -> tuple[int, int, float] | None:
    """``(elements beyond the range, non-finite elements, largest magnitude)`` when most of
    the reduced side's non-finite elements are finite beyond ``largest`` on the other."""
    if full.shape != reduced.shape:
        return None
    lost = ~np.isfinite(reduced) & np.isfinite(full)
    count = int(lost.sum())
    if not count:
        return None
    magnitudes = np.abs(full[lost].astype(np.float64))
    beyond = int((magnitudes > largest).sum())
    if beyond < _OVERFLOWED_SHARE * count:
        return None
    return beyond, count, float(magnitudes.max())


def _hint(pair: PairResult, side: str, dtype: str, largest: float, beyond: int,
          lost: int, peak: float) -> Hint:
    node = pair.b if side == "B" else pair.a
    other = "A" if side == "B" else "B"
    message = (f"{side} computes in {dtype} and overflows at `{node}`: {other}'s values there "
               f"reach {peak:.3g}, beyond {dtype}'s largest finite value {largest:.6g}, at "
               f"{beyond} of the {lost} elements {side} holds as inf or NaN. Keep this op in "
               f"float32 (the float16 converters' op_block_list / node_block_list, as in "
               f"onnxruntime's convert_float_to_float16), scale the activations down before "
               f"it, or run {side} in float32.")
    return Hint(FLOAT_OVERFLOW, pair.a, message,
                {"side": side, "dtype": dtype, "node": node, "largest": largest,
                 "peak": peak, "beyond_range": beyond, "non_finite": lost})
