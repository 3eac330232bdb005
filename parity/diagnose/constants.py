"""A layer that adds, multiplies or divides by another constant: RMSNorm's eps written as
1e-4 for 1e-6 (spelled out, it is an ``Add`` before the ``rsqrt``), a scale written as
another number where both sides compute it as a ``Mul`` of its own, Gemma 2's soft-cap
(``tanh(s / cap) * cap``) divided by another number, or a whole constant tensor
(LeViT's attention biases, a position table) that differs.

Read from the values, not the graphs (a traced scalar and an ONNX initializer look
nothing alike): on each side, the layer's output minus (or over) its own input is one
number everywhere (the input over the output, for a division), to the rounding of the
output's dtype (T5's 1e-6 added to a mean square
near 1 in float32 lands as 9.5e-7 or 1.01e-6), and the two numbers differ by more than
that rounding. Where it is not one number, and the layer reads nothing else that computes
an activation, it is a constant tensor, compared element by element (the input broadcast to
the output's shape: BLOOM's ALiBi slopes, one per head, times the positions), and named
when B's is A's with one axis reversed (a per-head table written the other way round).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..graph import Graph
from ..ops import family, is_no_op
from ..report import SHAPE_MISMATCH, Hint, PairResult
from .codes import ATTRIBUTE_MISMATCH, NORM_EPS_MISMATCH, WEIGHTS_DIFFER
from .evidence import Evidence

_UNIFORM = 1e-2  # spread of (output - input) around its mean, relative to the mean
_DIFFERENT = 1e-3  # relative gap between the two constants that is not float rounding
_ROOTS = frozenset({"sqrt", "rsqrt"})  # an Add before one of these adds a normaliser's eps
_VERBS = {"add": "adds", "mul": "multiplies by", "div": "divides by"}


@dataclass(frozen=True)
class _Measured:
    """The one number a side's layer adds (or multiplies by), and how far its output's
    rounding lets each element stray from it."""

    value: float
    rounding: float

    def shown(self) -> str:
        """The value to the digits its rounding supports (``1e-06``, not ``9.686e-07``)."""
        if self.rounding <= 0:
            return f"{self.value:.4g}"
        digits = int(np.clip(np.floor(np.log10(abs(self.value) / self.rounding)), 1, 4))
        return f"{self.value:.{digits}g}"


def constant_differs(evidence: Evidence) -> list[Hint]:
    """Divergence roots where both sides add (multiply, divide by) a constant, not the
    same: one number each (an eps, a scale), or a tensor each where the layer reads
    nothing else."""
    hints = []
    for pair, kind in _adds_and_muls(evidence):
        upstream = evidence.upstream(pair)
        tensors = _layer_tensors(evidence, pair, upstream)
        if tensors is None:
            continue
        a, b = (_uniform(x, y, kind) for x, y in tensors)
        if a is not None and b is not None:
            if _differ(a, b):
                hints.append(_hint(evidence, pair, kind, a, b))
        elif _reads_only(evidence, pair, upstream[0]):
            found = _tensor_gap(tensors, kind)
            if found is not None:
                hints.append(_tensor_hint(pair, kind, found))
    return hints


def _adds_and_muls(evidence: Evidence) -> Iterator[tuple[PairResult, str]]:
    """The divergence roots whose A layer adds, multiplies or divides, with which it does."""
    for pair in evidence.roots:
        kind = family(evidence.graph_a.node(pair.a).op) if pair.a in evidence.graph_a else ""
        if kind in _VERBS and pair.status != SHAPE_MISMATCH and not pair.is_input:
            yield pair, kind


def _layer_tensors(evidence: Evidence, pair: PairResult, upstream: list[PairResult]
                   ) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """``[(A's input, A's output), (B's input, B's output)]`` of a layer with one compared
    input, when kept, the input broadcast to the output's shape (a constant of more
    dimensions, such as one slope per head, widens it)."""
    values = evidence.values(pair)
    before = evidence.values(upstream[0]) if len(upstream) == 1 else None
    if values is None or before is None or not all(
            _broadcasts(x.shape, y.shape) for x, y in zip(before, values)):
        return None
    return [(np.broadcast_to(x, y.shape), y) for x, y in zip(before, values)]


def _broadcasts(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """``shape`` broadcasts to ``target`` without widening it."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _differ(a: _Measured, b: _Measured) -> bool:
    """Two constants further apart than float rounding of either."""
    gap = abs(a.value - b.value)
    return gap > max(_DIFFERENT * max(abs(a.value), abs(b.value)), a.rounding + b.rounding)


def _uniform(x: np.ndarray, y: np.ndarray, kind: str) -> _Measured | None:
    """The one number ``y`` is ``x`` plus (or times), else None."""
    step, rounding = _applied(x, y, kind)
    valid = ~np.isnan(step)
    if not valid.any():
        return None
    mean = float(step[valid].mean())
    slack = float(rounding[valid].max())
    if mean == 0.0 or float(np.abs(step[valid] - mean).max()) > _UNIFORM * abs(mean) + slack:
        return None
    return _Measured(mean, slack)


def _applied(x: np.ndarray, y: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Per element, what ``y`` adds to ``x`` (or multiplies it by, or divides it by: NaN
    where the divisor is too small to tell), and how far the output's rounding may move
    it."""
    unit = float(np.finfo(y.dtype).eps) if y.dtype.kind == "f" else 0.0
    x, y = x.astype(np.float64), y.astype(np.float64)
    if kind == "add":
        return y - x, 2 * unit * np.abs(y)
    if kind == "div":
        x, y = y, x  # x / y: what the input is divided by
    readable = np.abs(x) > 1e-6 * max(float(np.abs(x).max(initial=0.0)), 1e-30)
    step = np.divide(y, x, out=np.full(y.shape, np.nan), where=readable)
    return step, 2 * unit * np.abs(np.nan_to_num(step))


def _reads_only(evidence: Evidence, pair: PairResult, before: PairResult) -> bool:
    """Each side's layer reads the compared pair before it and nothing else that computes
    an activation (its other operands are constants, or inert nodes: the legacy exporter's
    Gather of LeViT's bias table), so what it applies is a constant tensor."""
    alignment = evidence.alignment
    return all({_value_source(graph, name, passed) for name in graph.node(node).inputs
                if name not in inert} == {source}
               for graph, node, source, inert, passed in (
                   (evidence.graph_a, pair.a, before.a, set(alignment.inert_a),
                    set(alignment.skipped_a)),
                   (evidence.graph_b, pair.b, before.b, set(alignment.inert_b),
                    set(alignment.skipped_b))))


def _value_source(graph: Graph, name: str, skipped: set[str]) -> str:
    """The node whose value ``name`` holds, looking back through skipped casts and no-ops
    (BLOOM's positions reach the ALiBi Mul through a whole-axis slice, or a Cast to float)."""
    while name in skipped and name in graph:
        node = graph.node(name)
        if len(node.inputs) != 1 or not (family(node.op) == "cast"
                                         or is_no_op(node.op, node.attrs)):
            break
        name = node.inputs[0]
    return name


@dataclass(frozen=True)
class _TensorGap:
    """Where the tensors two layers apply differ most, and the axis reversing A's along
    makes it B's (None when no one axis does)."""

    difference: float
    where: tuple[int, ...]
    a: float
    b: float
    reversed_axis: int | None


def _tensor_gap(tensors: list[tuple[np.ndarray, np.ndarray]], kind: str) -> _TensorGap | None:
    """How the tensors the two layers apply differ, if beyond rounding."""
    (step_a, rounding_a), (step_b, rounding_b) = (_applied(x, y, kind) for x, y in tensors)
    gap = _excess(step_a, step_b, rounding_a + rounding_b)
    if gap is None:
        return None
    where = np.unravel_index(int(np.nanargmax(gap)), gap.shape)
    a, b = float(step_a[where]), float(step_b[where])
    return _TensorGap(abs(a - b), tuple(int(i) for i in where), a, b,
                      _reversed_axis((step_a, rounding_a), (step_b, rounding_b)))


def _reversed_axis(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
                   ) -> int | None:
    """The first axis along which A's ``(step, rounding)`` reversed is B's, if any."""
    (step_a, rounding_a), (step_b, rounding_b) = a, b
    return next((axis for axis, size in enumerate(step_a.shape) if size > 1 and _excess(
        np.flip(step_a, axis), step_b, np.flip(rounding_a, axis) + rounding_b) is None), None)


def _excess(step_a: np.ndarray, step_b: np.ndarray, rounding: np.ndarray) -> np.ndarray | None:
    """Per element, how far the two steps differ beyond their rounding, when somewhere by
    more than float noise (NaN where a step cannot be read), else None."""
    gap = np.abs(step_a - step_b) - rounding
    if np.isnan(gap).all() or not np.nanmax(gap) > _DIFFERENT * float(
            np.nanmax(np.abs(step_a))):
        return None
    return gap


def _tensor_hint(pair: PairResult, kind: str, gap: _TensorGap) -> Hint:
    verb = _VERBS[kind]
    message = (f"`{pair.a}` {verb} a constant tensor that B's `{pair.b}` does not match "
               f"(measured from each side's own input and output): largest difference "
               f"{gap.difference:.3g}, at {list(gap.where)}, {gap.a:.4g} in A vs {gap.b:.4g} "
               f"in B. {_reversal(gap.reversed_axis)}The tensor it {verb.split()[0]} (a bias, "
               f"a position or attention-bias table, a per-head slope, a layer scale) was "
               f"converted wrongly: copy A's values into B's conversion.")
    return Hint(WEIGHTS_DIFFER, pair.a, message,
                {"op": kind, "max_abs": gap.difference, "index": list(gap.where), "a": gap.a,
                 "b": gap.b, "node_b": pair.b, "reversed_axis": gap.reversed_axis})


def _reversal(axis: int | None) -> str:
    """The sentence naming a reversed axis, or nothing."""
    if axis is None:
        return ""
    return (f"B's tensor is A's with axis {axis} in reverse order (a per-head table, such as "
            f"ALiBi slopes or attention biases, written with its heads the other way round). ")


def _hint(evidence: Evidence, pair: PairResult, kind: str, a: _Measured,
          b: _Measured) -> Hint:
    graph = evidence.graph_a
    readers = graph.consumers.get(pair.a, ())
    is_eps = kind == "add" and any(family(graph.op_of(r)) in _ROOTS for r in readers)
    verb = _VERBS[kind]
    what = ("the eps of the normalisation it belongs to (RMSNorm spelled out: x * rsqrt("
            "mean(x^2) + eps))" if is_eps else "a constant of the layer")
    message = (f"`{pair.a}` {verb} {a.shown()} in A where B's `{pair.b}` {verb} {b.shown()} "
               f"(measured from each side's own input and output): {what} differs. "
               f"Write A's value into B's conversion.")
    return Hint(NORM_EPS_MISMATCH if is_eps else ATTRIBUTE_MISMATCH, pair.a, message,
                {"op": kind, "a": a.value, "b": b.value, "node_b": pair.b, "eps": is_eps})
