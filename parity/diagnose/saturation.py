"""A quantized tensor whose range is too narrow: the float side's values beyond the ends of
the int8 grid are clipped to them (calibration that never saw such values, or a scale
written too small)."""

from __future__ import annotations

import numpy as np

from ..quantized import STEP
from ..report import SHAPE_MISMATCH, Hint, PairResult
from .codes import QUANT_SATURATION
from .evidence import Evidence

_LEVELS = 255  # an 8-bit grid spans this many steps


def quant_saturation(evidence: Evidence) -> list[Hint]:
    """Divergence roots on a quantized side whose error is its values clipped at the range's
    ends: the clipped elements carry the error, the others stay within a few steps."""
    hints = []
    for pair in evidence.roots:
        if pair.status == SHAPE_MISMATCH or pair.is_input:
            continue
        for side, node in (("b", pair.b), ("a", pair.a)):
            graph = evidence.graph(side)
            step = float(graph.node(node).attrs.get(STEP, 0.0)) if node in graph else 0.0
            values = evidence.values(pair)
            if step <= 0 or values is None:
                continue
            found = _clipped(values, side, step)
            if found is not None:
                hints.append(_hint(evidence, pair, side, node, step, *found))
                break
    return hints


def _clipped(values: tuple[np.ndarray, np.ndarray], side: str, step: float
             ) -> tuple[float, float, float, float, int, float] | None:
    """``(low, high, float low, float high, clipped count, largest clip)`` when the error is
    the quantized side's values held at its grid's ends."""
    quantized, exact = (values[1], values[0]) if side == "b" else values
    if quantized.size != exact.size:
        return None
    q = quantized.astype(np.float64).ravel()
    r = exact.astype(np.float64).ravel()
    low, high = float(q.min()), float(q.max())
    over = (r > high + step) & np.isclose(q, high, atol=step / 2, rtol=0)
    under = (r < low - step) & np.isclose(q, low, atol=step / 2, rtol=0)
    clipped = over | under
    error = np.abs(r - q)
    if not clipped.any():
        return None
    rest = float(error[~clipped].max(initial=0.0))
    worst = float(error[clipped].max())
    if rest > 0.5 * worst:
        return None  # the error is not mostly the clipping
    return low, high, float(r.min()), float(r.max()), int(clipped.sum()), worst


def _hint(evidence: Evidence, pair: PairResult, side: str, node: str, step: float,
          low: float, high: float, float_low: float, float_high: float, count: int,
          worst: float) -> Hint:
    quantized, exact = side.upper(), "A" if side == "b" else "B"
    size = int(np.prod(pair.shape_b if side == "b" else pair.shape_a))
    backend = evidence.backend(side)
    needed = (max(high, float_high) - min(low, float_low)) / _LEVELS
    message = (f"`{pair.a}`: {quantized}'s `{node}` is quantized (step {step:.3g}) and its "
               f"range ends at [{low:.4g}, {high:.4g}], while {exact}'s values span "
               f"[{float_low:.4g}, {float_high:.4g}]: {count} of {size} values are clipped "
               f"to the range's ends (by up to {worst:.3g}); the others agree within the "
               f"quantization noise. The quantization range is too narrow: in "
               f"{quantized} ({backend.path.name}), calibrate on data that covers these "
               f"inputs, or give `{node}`'s output a scale of at least {needed:.3g} "
               f"(the span {exact} reaches over {_LEVELS} steps).")
    return Hint(QUANT_SATURATION, pair.a, message, {
        "side": quantized, "node": node, "step": step, "range": [low, high],
        "float_range": [float_low, float_high], "clipped": count, "largest_clip": worst,
        "scale_needed": needed})
