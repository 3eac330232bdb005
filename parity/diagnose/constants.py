"""A layer that adds or multiplies by another constant: RMSNorm's eps written as 1e-4 for
1e-6 (spelled out, it is an ``Add`` before the ``rsqrt``), or a scale written as another
number where both sides compute it as a ``Mul`` of its own.

Read from the values, not the graphs (a traced scalar and an ONNX initializer look
nothing alike): on each side, the layer's output minus (or over) its own input is one
number everywhere, and the two numbers differ.
"""

from __future__ import annotations

import numpy as np

from ..ops import family
from ..report import SHAPE_MISMATCH, Hint, PairResult
from .codes import ATTRIBUTE_MISMATCH, NORM_EPS_MISMATCH
from .evidence import Evidence

_UNIFORM = 1e-2  # spread of (output - input) around its mean, relative to the mean
_DIFFERENT = 1e-3  # relative gap between the two constants that is not float rounding
_ROOTS = frozenset({"sqrt", "rsqrt"})  # an Add before one of these adds a normaliser's eps


def constant_differs(evidence: Evidence) -> list[Hint]:
    """Divergence roots where both sides add (or multiply by) one constant, not the same."""
    hints = []
    for pair in evidence.roots:
        kind = family(evidence.graph_a.node(pair.a).op) if pair.a in evidence.graph_a else ""
        if kind not in ("add", "mul") or pair.status == SHAPE_MISMATCH or pair.is_input:
            continue
        found = _constants(evidence, pair, kind)
        if found is not None:
            hints.append(_hint(evidence, pair, kind, *found))
    return hints


def _constants(evidence: Evidence, pair: PairResult, kind: str) -> tuple[float, float] | None:
    """``(A's constant, B's constant)`` when each side's layer applies one to its single
    compared input and they differ."""
    upstream = evidence.upstream(pair)
    values, before = evidence.values(pair), None
    if len(upstream) == 1:
        before = evidence.values(upstream[0])
    if values is None or before is None:
        return None
    constants = []
    for x, y in zip(before, values):
        if x.shape != y.shape:
            return None
        constant = _uniform(x.astype(np.float64), y.astype(np.float64), kind)
        if constant is None:
            return None
        constants.append(constant)
    a, b = constants
    if abs(a - b) <= _DIFFERENT * max(abs(a), abs(b)):
        return None
    return a, b


def _uniform(x: np.ndarray, y: np.ndarray, kind: str) -> float | None:
    """The one number ``y`` is ``x`` plus (or times), else None."""
    if kind == "add":
        step = y - x
    else:
        valid = np.abs(x) > 1e-6 * max(float(np.abs(x).max()), 1e-30)
        if not valid.any():
            return None
        step = y[valid] / x[valid]
    mean = float(step.mean())
    if mean == 0.0 or float(np.abs(step - mean).max()) > _UNIFORM * abs(mean):
        return None
    return mean


def _hint(evidence: Evidence, pair: PairResult, kind: str, a: float, b: float) -> Hint:
    graph = evidence.graph_a
    readers = graph.consumers.get(pair.a, ())
    is_eps = kind == "add" and any(family(graph.op_of(r)) in _ROOTS for r in readers)
    verb = "adds" if kind == "add" else "multiplies by"
    what = ("the eps of the normalisation it belongs to (RMSNorm spelled out: x * rsqrt("
            "mean(x^2) + eps))" if is_eps else "a constant of the layer")
    message = (f"`{pair.a}` {verb} {a:.4g} in A where B's `{pair.b}` {verb} {b:.4g} "
               f"(measured from each side's own input and output): {what} differs. "
               f"Write A's value into B's conversion.")
    return Hint(NORM_EPS_MISMATCH if is_eps else ATTRIBUTE_MISMATCH, pair.a, message,
                {"op": kind, "a": a, "b": b, "node_b": pair.b, "eps": is_eps})
