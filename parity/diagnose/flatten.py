"""A dense layer or flatten that reads its input's axes in another order (flatten_order)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from ..graph import Graph
from ..layout import NHWC, flattened_from
from ..ops import family, op_class
from ..report import SHAPE_MISMATCH, Hint, PairResult
from .codes import FLATTEN_ORDER
from .evidence import Evidence
from .fit import fits

_LINEAR = op_class("Gemm")

CHW = tuple[int, int, int]
Activation = Callable[[np.ndarray], np.ndarray]


def flatten_order(evidence: Evidence) -> list[Hint]:
    """A dense layer whose weights expect its input flattened in the other order, or a
    flatten that reads its input's axes in another order (a patch grid read column by
    column)."""
    hints = []
    for pair in evidence.roots:
        if pair.status == SHAPE_MISMATCH:
            continue
        found = _flatten_fit(evidence, pair)
        if found is not None:
            hints.append(_flatten_hint(evidence, pair, *found))
            continue
        orders = _flatten_axis_orders(evidence, pair)
        if orders is not None:
            hints.append(_axis_order_hint(evidence, pair, *orders))
    return hints


def _flatten_fit(evidence: Evidence, pair: PairResult) -> tuple[str, str, CHW, bool] | None:
    """``(side, linear node, (C, H, W), arrives channels-last)`` of the side whose weights,
    applied to the input in the other order, reproduce the other side's output."""
    upstream = evidence.upstream(pair)
    values = evidence.values(pair)
    before = evidence.values(upstream[0]) if len(upstream) == 1 else None
    if values is None or before is None:
        return None
    x = before[0].astype(np.float64).reshape(before[0].shape[0], -1)
    for side, node, target in (("b", pair.b, values[0]), ("a", pair.a, values[1])):
        graph = evidence.graph(side)
        linear = evidence.node_of_class(side, node, _LINEAR)
        params = evidence.parameters(side, linear) if linear else {}
        activation = _activation(graph, evidence.chain(side, node))
        weight = params.get("weight")
        if (linear is None or weight is None or activation is None or weight.ndim != 2
                or weight.shape[1] != x.shape[1]):
            continue
        channels_last = bool(graph.node(linear).inputs) and flattened_from(
            graph, graph.node(linear).inputs[0]) is not None
        for chw in flatten_shapes(evidence, upstream[0], x.shape[1], before[0]):
            other = x if channels_last else x[:, hwc_index(chw)]
            y = activation(other @ weight.T + params.get("bias", 0.0))
            if fits(y, target.astype(np.float64)):
                return side, linear, chw, channels_last
    return None


def flatten_shapes(evidence: Evidence, upstream: PairResult, size: int,
                   before: np.ndarray | None = None) -> list[CHW]:
    """Candidate ``(C, H, W)`` of a flattened tensor of ``size`` values: the 4-D tensor it
    came from (kept, or shaped in either graph), then square ``H = W`` factorisations."""
    found = [tuple(before.shape[1:])] if before is not None and before.ndim == 4 else []
    found += [shape for graph, name in ((evidence.graph_a, upstream.a),
                                        (evidence.graph_b, upstream.b))
              if (shape := _producer_shape(graph, name)) is not None]
    found += [(size // (s * s), s, s) for s in range(2, math.isqrt(size) + 1)
              if size % (s * s) == 0]
    return [chw for chw in dict.fromkeys(found)
            if math.prod(chw) == size and chw[0] > 1 and chw[1] * chw[2] > 1]


def _producer_shape(graph: Graph, name: str, steps: int = 3) -> CHW | None:
    """``(C, H, W)`` of the nearest 4-D node at or above ``name`` (single-input nodes)."""
    for _ in range(steps):
        if name not in graph:
            return None
        node = graph.node(name)
        shape = node.shape
        if shape is not None and len(shape) == 4 and None not in shape[1:]:
            dims = [int(d) for d in shape[1:]]  # type: ignore[arg-type]
            return (dims[2], dims[0], dims[1]) if node.attrs.get("layout") == NHWC else (
                dims[0], dims[1], dims[2])
        if len(node.inputs) != 1:
            return None
        name = node.inputs[0]
    return None


def hwc_index(chw: CHW) -> np.ndarray:
    """Indices that turn a C,H,W-flattened vector into its H,W,C order."""
    return np.arange(math.prod(chw)).reshape(chw).transpose(1, 2, 0).ravel()


def _activation(graph: Graph, chain: list[str]) -> Activation | None:
    """What the chain applies after its dense layer: identity or ReLU; None otherwise."""
    relu = False
    for name in chain:
        node = graph.node(name)
        fam = family(node.op)
        kind = node.attrs.get("activation") or node.attrs.get("act_type")
        if fam == "relu" or kind == "relu":
            relu = True
        elif op_class(node.op) != _LINEAR or kind not in (None, "linear"):
            return None
    return (lambda y: np.maximum(y, 0.0)) if relu else (lambda y: y)


def _flatten_hint(evidence: Evidence, pair: PairResult, side: str, linear: str, chw: CHW,
                  channels_last: bool) -> Hint:
    backend = evidence.backend(side)
    c, h, w = chw
    expects, arrives = ("C,H,W", "H,W,C (channels last)") if channels_last else (
        "H,W,C (channels last)", "C,H,W")
    fix = (f"w.reshape(out, {c}, {h}, {w}).transpose(0, 2, 3, 1)" if channels_last
           else f"w.reshape(out, {h}, {w}, {c}).transpose(0, 3, 1, 2)")
    letter = side.upper()
    message = (f"{letter}'s `{linear}` weights expect the input flattened as {expects} while "
               f"the tensor arrives {arrives} (C={c}, H={h}, W={w}): permute the weight "
               f"columns in the conversion ({letter}'s `{linear}` in {backend.path.name}: "
               f"w = {fix}.reshape(out, -1)); recomputing with the input reordered "
               f"reproduces the other side's output.")
    return Hint(FLATTEN_ORDER, pair.a, message,
                {"side": letter, "node": linear, "backend": backend.name, "chw": list(chw),
                 "weights_expect": expects.split(" ")[0]})


def _flatten_axis_orders(evidence: Evidence, pair: PairResult
                         ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None:
    """``(input shape, A's axis order, B's axis order)`` of a flatten whose two sides read
    their (agreeing) input's axes in different orders: each side's output is the input
    transposed by its order, then reshaped."""
    if family(evidence.graph_a.op_of(pair.a)) != "flatten":
        return None
    upstream = evidence.upstream(pair)
    values = evidence.values(pair)
    before = evidence.values(upstream[0]) if len(upstream) == 1 else None
    if values is None or before is None or values[0].shape != values[1].shape:
        return None
    x, (out_a, out_b) = before[0], values
    if not 2 < x.ndim <= 5 or x.ndim <= out_a.ndim or x.size != out_a.size:
        return None
    fit_a, fit_b = [], []
    for order in itertools.permutations(range(x.ndim)):
        y = np.transpose(x, order)
        if fits(y, out_a):
            fit_a.append(order)
        elif fits(y, out_b):
            fit_b.append(order)
    if not fit_a or not fit_b:
        return None
    return tuple(x.shape), _simplest(fit_a), _simplest(fit_b)


def _simplest(orders: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The order that moves the fewest axes (orders moving only size-1 axes read alike)."""
    return min(orders, key=lambda order: sum(i != axis for i, axis in enumerate(order)))


def _axis_order_hint(evidence: Evidence, pair: PairResult, shape: tuple[int, ...],
                     order_a: tuple[int, ...], order_b: tuple[int, ...]) -> Hint:
    letters = "NCHW" if len(shape) == 4 else "NCDHW" if len(shape) == 5 else "NCL"

    def spelled(order: tuple[int, ...]) -> str:
        return f"{order} ({', '.join(letters[i] for i in order)})"

    graph_b = evidence.graph_b
    transposes = [f"`{name}` (perm {graph_b.node(name).attrs.get('perm')})"
                  for name in evidence.stretch("b", pair.b)
                  if name in graph_b and family(graph_b.node(name).op) == "transpose"]
    fix = (f"fix the transpose before it ({', '.join(transposes)})" if transposes
           else f"transpose its input by {order_a} instead of {order_b} before flattening")
    message = (f"`{pair.a}`: B's `{pair.b}` flattens its input (shape {shape}) in axis order "
               f"{spelled(order_b)} where A's reads it as {spelled(order_a)}: the values are "
               f"the same, in another order; flattening A's input in B's order reproduces "
               f"B's output. Make them agree on the converted side: in B "
               f"({evidence.b.path.name}), {fix}; or in A ({evidence.a.path.name}), permute "
               f"the input of `{pair.a}` by {order_b} before it.")
    return Hint(FLATTEN_ORDER, pair.a, message,
                {"b_node": pair.b, "input_shape": list(shape), "order_a": list(order_a),
                 "order_b": list(order_b)})
