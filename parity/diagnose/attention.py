"""Attention that scales its scores by another number: one side runs one attention op
(torch's ``scaled_dot_product_attention``, ONNX ``Attention``) whose scale is its ``scale``
argument or ``1/sqrt(head dim)``; the other spells it out, ``MatMul(q * c1, k^T * c2)``
(the exporters split the scale between q and k) or ``MatMul(q, k^T) / c``, then the mask
and ``Softmax``. A converter that writes ``1/d`` for ``1/sqrt(d)`` (or drops the scale)
changes nothing else, so the pair diverges with no other cause to name; nor does one whose
Softmax normalises over the queries instead of the keys.

The spelled-out scale is read from the graph (the constants of the Mul and Div nodes on the
scores' path), which only an ONNX side holds as values; a traced torch side spells its
scale as a compared ``mul`` of its own, which :mod:`.constants` reads from the values.
"""

from __future__ import annotations

import math

from ..graph import Graph
from ..ops import family, op_key
from ..report import SHAPE_MISMATCH, Hint, PairResult
from .codes import ATTRIBUTE_MISMATCH, AXIS_MISMATCH, OPERAND_ORDER
from .evidence import Evidence
from .vocabulary.onnx_constants import constant_inputs

_DIFFERENT = 1e-3  # relative gap between two scales that is not float rounding
# On the scores' path: ops that pass a scale through unchanged (the mask's Add and Where,
# and the q/k/v split of a packed projection, included), and those that apply one (a scalar
# constant operand).
_CARRY = frozenset({"add", "sub", "where", "cast", "transpose", "identity", "unsqueeze",
                    "squeeze", "expand", "flatten", "split", "slice", "gather"})
_SCALING = frozenset({"mul", "div"})


def attention_scale(evidence: Evidence) -> list[Hint]:
    """Divergence roots where one side's attention op scales its scores by another number
    than the other side's spelled-out attention."""
    hints = []
    for pair in evidence.roots:
        if pair.is_input or pair.status == SHAPE_MISMATCH:
            continue
        scales = [_scale(evidence, side, node) for side, node in (("a", pair.a), ("b", pair.b))]
        if any(s is None for s in scales):
            continue
        (a, how_a), (b, how_b) = scales  # type: ignore[misc]
        if abs(a - b) > _DIFFERENT * max(abs(a), abs(b)):
            hints.append(_hint(pair, a, how_a, b, how_b, _head_dim(evidence, pair)))
    return hints


def attention_softmax_axis(evidence: Evidence) -> list[Hint]:
    """Divergence roots where one side's attention op normalises the weights over the keys
    (the last axis) and the other side's spelled-out Softmax over another axis."""
    hints = []
    for pair in evidence.roots:
        rank = len(pair.shape_a)
        if pair.is_input or pair.status == SHAPE_MISMATCH or not rank:
            continue
        nodes = {"a": pair.a, "b": pair.b}
        for fused, spelled in (("a", "b"), ("b", "a")):
            if family(evidence.graph(fused).op_of(nodes[fused])) != "attention":
                continue
            softmax = _spelled_softmax(evidence, spelled, nodes[spelled])
            axis = int(evidence.graph(spelled).node(softmax).attrs.get("axis", -1)) \
                if softmax else -1
            if axis % rank != rank - 1:
                message = (f"{spelled.upper()}'s `{softmax}` normalises the attention weights "
                           f"over axis {axis} where `{nodes[fused]}` normalises them over the "
                           f"keys (axis -1): the softmax axis differs. Write axis=-1 into "
                           f"that Softmax.")
                hints.append(Hint(AXIS_MISMATCH, pair.a, message,
                                  {"op": "attention", "key": "axis", "softmax": softmax,
                                   "axis": axis, "node_b": pair.b}))
    return hints


def attention_operands(evidence: Evidence) -> list[Hint]:
    """Divergence roots where one side's attention op reads (q, k) and the other side's
    spelled-out scores MatMul reads the same two tensors as (k, q)."""
    hints = []
    for pair in evidence.roots:
        if pair.is_input or pair.status == SHAPE_MISMATCH:
            continue
        nodes = {"a": pair.a, "b": pair.b}
        for fused, spelled in (("a", "b"), ("b", "a")):
            graph = evidence.graph(fused)
            if family(graph.op_of(nodes[fused])) != "attention":
                continue
            query_key = graph.node(nodes[fused]).inputs[:2]
            read = _scores_operands(evidence, spelled, nodes[spelled])
            if read is None or len(query_key) != 2:
                continue
            sources = [evidence.compared_sources(fused, name) for name in query_key]
            if sources[0] != sources[1] and read[1] == sources[::-1]:
                hints.append(_operands_hint(pair, fused, query_key, spelled, read[0]))
    return hints


def _scores_operands(evidence: Evidence, side: str,
                     node: str) -> tuple[str, list[frozenset[str]]] | None:
    """The scores MatMul of the attention spelled out at ``node``, and for each of its two
    operands, in the order it reads them, the compared nodes of the *other* side it is
    computed from (through the reshapes, transposes and scale factors between)."""
    graph = evidence.graph(side)
    softmax = _spelled_softmax(evidence, side, node)
    if softmax is None:
        return None
    interior = set(evidence.stretch(side, node))
    scores = _walk_back(evidence, side, graph.node(softmax).inputs[:1], interior, "matmul")
    if scores is None or len(graph.node(scores[0]).inputs) != 2:
        return None
    partner = {(p.b if side == "b" else p.a): (p.a if side == "b" else p.b)
               for p in evidence.pairs}
    found = []
    for operand in graph.node(scores[0]).inputs:
        source = evidence.compared_sources(side, _origin(graph, operand, interior))
        if not source or not source <= partner.keys():
            return None
        found.append(frozenset(partner[name] for name in source))
    return scores[0], found


def _origin(graph: Graph, name: str, interior: set[str]) -> str:
    """The first node up from ``name`` outside ``interior`` along its one activation input
    (where a scores operand comes from)."""
    while name in interior and name in graph and len(graph.node(name).inputs) == 1:
        name = graph.node(name).inputs[0]
    return name


def _operands_hint(pair: PairResult, fused: str, query_key: tuple[str, ...], spelled: str,
                   matmul: str) -> Hint:
    query, key = query_key
    message = (f"{spelled.upper()}'s attention scores `{matmul}` multiply what "
               f"{fused.upper()}'s `{key}` holds by what `{query}` holds where "
               f"{fused.upper()}'s attention reads `{query}` as its query and `{key}` as its "
               f"key: the query and key are swapped (scores transposed). Pass them in "
               f"{fused.upper()}'s order.")
    return Hint(OPERAND_ORDER, pair.a, message,
                {"op": "attention", "query": query, "key": key, "scores": matmul,
                 "node_b": pair.b})


def _spelled_softmax(evidence: Evidence, side: str, node: str) -> str | None:
    """The Softmax of an attention spelled out in ONNX nodes ending at ``node`` (the MatMul
    of the attention weights and v)."""
    graph = evidence.graph(side)
    if (evidence.backend(side).name != "onnxrt" or node not in graph
            or _kind(graph, node) != "matmul"):
        return None
    found = _walk_back(evidence, side, graph.node(node).inputs[:1],
                       set(evidence.stretch(side, node)), "softmax")
    return found[0] if found else None


def _scale(evidence: Evidence, side: str, node: str) -> tuple[float, str] | None:
    """The factor ``node``'s attention multiplies ``q . k`` by, and where it was read."""
    graph = evidence.graph(side)
    if node not in graph:
        return None
    if family(graph.op_of(node)) == "attention":
        stated = graph.node(node).attrs.get("scale")
        if isinstance(stated, (int, float)) and not isinstance(stated, bool):
            return float(stated), "its scale argument"
        dim = _query_dim(evidence, side, node)
        return None if dim is None else (1.0 / math.sqrt(dim), "its default scale")
    if evidence.backend(side).name != "onnxrt":
        return None
    return _spelled_out(evidence, side, node)


def _query_dim(evidence: Evidence, side: str, node: str) -> int | None:
    """The head dimension of the attention op's query (its first input), from the tensors
    kept for diagnosis (else from its output, whose last axis is v's)."""
    inputs = evidence.graph(side).node(node).inputs
    kept = evidence.values_a if side == "a" else evidence.values_b
    if inputs and inputs[0] in kept and kept[inputs[0]].ndim >= 2:
        return int(kept[inputs[0]].shape[-1])
    output = kept.get(node)
    return int(output.shape[-1]) if output is not None and output.ndim >= 2 else None


def _spelled_out(evidence: Evidence, side: str, node: str) -> tuple[float, str] | None:
    """The scale of an attention spelled out in ONNX nodes ending at ``node`` (the MatMul of
    the attention weights and v): the product of the scalar constants on the path from the
    scores' MatMul to the Softmax and on its q and k operands."""
    graph = evidence.graph(side)
    interior = set(evidence.stretch(side, node))
    if _kind(graph, node) != "matmul":
        return None
    softmax = _walk_back(evidence, side, graph.node(node).inputs[:1], interior, "softmax")
    if softmax is None or softmax[2]:
        return None  # a factor after the softmax scales the weights, not the scores
    scores = _walk_back(evidence, side, graph.node(softmax[0]).inputs[:1], interior, "matmul")
    if scores is None:
        return None
    matmul, factor, scaling = scores
    for operand in graph.node(matmul).inputs:
        found = _walk_back(evidence, side, [operand], interior, None)
        if found is None:
            return None
        factor *= found[1]
        scaling += found[2]
    names = ", ".join(f"`{n}`" for n in scaling)
    return factor, (f"the scores `{matmul}` scaled by {names}" if scaling
                    else f"the scores `{matmul}`, scaled by nothing")


def _walk_back(evidence: Evidence, side: str, start: list[str], interior: set[str],
               until: str | None) -> tuple[str, float, list[str]] | None:
    """Follow one activation path up from ``start`` through scale-preserving and scaling
    ops of ``interior`` until an op of family ``until`` (or, with ``until=None``, until the
    path leaves ``interior``): that node, the product of the scalar factors met, and the
    scaling nodes."""
    graph = evidence.graph(side)
    factor, scaling = 1.0, []
    names = list(start)
    while len(names) == 1 and names[0] in interior and names[0] in graph:
        name = names[0]
        kind = _kind(graph, name)
        if until is not None and kind == until:
            return name, factor, scaling
        inputs = graph.node(name).inputs
        if kind in _SCALING:
            constant = _scalar_operand(evidence, side, name)
            if constant is None or len(inputs) != 1:
                return None
            factor *= constant if kind == "mul" else 1.0 / constant
            scaling.append(name)
        elif kind not in _CARRY:
            return None
        names = _scores_input(graph, inputs, interior, until or "matmul")
    if until is None:
        return "", factor, scaling
    return None


def _scores_input(graph: Graph, inputs: tuple[str, ...], interior: set[str],
                  target: str) -> list[str]:
    """Of a node's activation inputs, the one the scores travel on: the one op the path may
    hold that leads to ``target`` (a mask's Add adds a tensor of its own; a NaN guard's
    Where reads the Softmax twice, once through IsNaN)."""
    if len(inputs) <= 1:
        return list(inputs)
    passable = _CARRY | _SCALING | {target}
    return [next((c for c in inputs if c in graph and _kind(graph, c) in passable
                  and _reaches(graph, c, interior, target)), inputs[0])]


def _reaches(graph: Graph, name: str, interior: set[str], kind: str) -> bool:
    """Whether an op of ``kind`` lies upstream of ``name`` within ``interior``."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in interior or current not in graph:
            continue
        seen.add(current)
        if _kind(graph, current) == kind:
            return True
        todo.extend(graph.node(current).inputs)
    return False


def _kind(graph: Graph, name: str) -> str:
    """The op's family, with a MatMul as itself (its family, linear, holds weighted layers)."""
    op = graph.op_of(name)
    return "matmul" if op_key(op) == "matmul" else family(op)


def _scalar_operand(evidence: Evidence, side: str, node: str) -> float | None:
    """The one-element constant a Mul or Div node applies, if it has one."""
    scalars = [float(c.reshape(-1)[0]) for c in constant_inputs(evidence.backend(side), node)
               if c is not None and c.size == 1]
    return scalars[0] if len(scalars) == 1 and scalars[0] != 0.0 else None


def _head_dim(evidence: Evidence, pair: PairResult) -> int | None:
    """The head dimension of the pair's attention op, on whichever side runs one."""
    for side, node in (("a", pair.a), ("b", pair.b)):
        graph = evidence.graph(side)
        if node in graph and family(graph.op_of(node)) == "attention":
            return _query_dim(evidence, side, node)
    return None


def _spelled(scale: float, dim: int | None) -> str:
    """``0.125 (1/d, d=8)``: the scale, and how it reads against the head dimension."""
    if dim:
        for label, value in (("1/sqrt(d)", dim ** -0.5), ("1/d", 1.0 / dim), ("1", 1.0),
                             ("sqrt(d)", dim ** 0.5)):
            if abs(scale - value) <= _DIFFERENT * value:
                return f"{scale:.4g} ({label}, d={dim})"
    return f"{scale:.4g}"


def _hint(pair: PairResult, a: float, how_a: str, b: float, how_b: str,
          dim: int | None) -> Hint:
    message = (f"`{pair.a}` scales its attention scores (q.k) by {_spelled(a, dim)} in A "
               f"({how_a}) where B's `{pair.b}` scales them by {_spelled(b, dim)} ({how_b}): "
               f"the attention scale differs. Write A's scale into B's conversion.")
    return Hint(ATTRIBUTE_MISMATCH, pair.a, message,
                {"op": "attention", "key": "scale", "a": a, "b": b, "node_b": pair.b,
                 "head_dim": dim})
