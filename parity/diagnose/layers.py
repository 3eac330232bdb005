"""Causes inside one layer: flatten order before a dense layer, concat order, weights."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backend import Backend
from ..graph import Graph
from ..layout import NHWC, flattened_from
from ..ops import family, op_class
from ..report import SHAPE_MISMATCH, Hint, PairResult
from .codes import CONCAT_ORDER, FLATTEN_ORDER, WEIGHTS_DIFFER
from .evidence import Evidence
from .vocabulary import describe

_LINEAR, _CONCAT = op_class("Gemm"), op_class("Concat")
_FIT = 1e-3  # largest misfit, relative to the target's range, that still counts as a match
_SAME = 1e-6  # largest parameter difference, relative to its range, that counts as equal
_SHOWN_CHANNELS = 8
_SAMPLED_ROWS = 16

CHW = tuple[int, int, int]
Activation = Callable[[np.ndarray], np.ndarray]


def _fits(x: np.ndarray, target: np.ndarray) -> bool:
    if x.size != target.size:
        return False
    scale = max(float(np.abs(target).max(initial=0.0)), 1e-12)
    return float(np.abs(x.reshape(target.shape) - target).max(initial=0.0)) <= _FIT * scale


# -- flatten order ------------------------------------------------------------------------


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
            other = x if channels_last else x[:, _hwc_index(chw)]
            y = activation(other @ weight.T + params.get("bias", 0.0))
            if _fits(y, target.astype(np.float64)):
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


def _hwc_index(chw: CHW) -> np.ndarray:
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
        if _fits(y, out_a):
            fit_a.append(order)
        elif _fits(y, out_b):
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


# -- concat order -------------------------------------------------------------------------


def concat_order(evidence: Evidence) -> list[Hint]:
    """A concat whose output matches once its input blocks are put in the other order,
    also when a block is a constant (a class token concatenated to the patch tokens)."""
    hints = []
    for pair in evidence.roots:
        if pair.status == SHAPE_MISMATCH or op_class(evidence.graph_a.op_of(pair.a)) != _CONCAT:
            continue
        found = _blocks(evidence, pair, evidence.upstream(pair))
        order = _block_order(evidence, pair, *found) if found is not None else None
        if order is not None and order != sorted(order):
            hints.append(_concat_hint(evidence, pair, found[0], found[1], order))
    return hints


@dataclass(frozen=True)
class _Block:
    """One block of A's concat output: a compared input (``pair``), or a constant the
    graph does not list as an input (``pair`` None)."""

    pair: PairResult | None
    offset: int
    size: int


def _blocks(evidence: Evidence, pair: PairResult,
            upstream: list[PairResult]) -> tuple[list[_Block], int] | None:
    """A's output cut into its blocks along the concat axis, in A's order: where each
    compared input lies in it, and the stretches between them (constants)."""
    values = evidence.values(pair)
    inputs = [(u, v[0]) for u in upstream if (v := evidence.values(u)) is not None]
    if values is None or not inputs or len(inputs) != len(upstream):
        return None
    out = values[0]
    axis = _concat_axis([v.shape for _, v in inputs], out.shape)
    if axis is None:
        axis = _stated_axis(evidence, pair, out.ndim)
    if axis is None or any(v.ndim != out.ndim for _, v in inputs):
        return None
    placed: list[_Block] = []
    for u, value in inputs:
        size = value.shape[axis]
        taken = {o for b in placed for o in range(b.offset, b.offset + b.size)}
        offset = next((o for o in range(out.shape[axis] - size + 1)
                       if not taken & set(range(o, o + size))
                       and _fits(value, _block(out, axis, o, size))), None)
        if offset is None:
            return None
        placed.append(_Block(u, offset, size))
    placed.sort(key=lambda b: b.offset)
    blocks, end = [], 0
    for block in placed:
        if block.offset > end:
            blocks.append(_Block(None, end, block.offset - end))
        blocks.append(block)
        end = block.offset + block.size
    if end < out.shape[axis]:
        blocks.append(_Block(None, end, out.shape[axis] - end))
    return (blocks, axis) if len(blocks) >= 2 else None


def _stated_axis(evidence: Evidence, pair: PairResult, rank: int) -> int | None:
    """The axis A's concat node states, made non-negative."""
    axis = describe(evidence.a, pair.a).get("axis")
    return int(axis) % rank if isinstance(axis, int) and rank else None


def _block_order(evidence: Evidence, pair: PairResult, blocks: list[_Block],
                 axis: int) -> list[int] | None:
    """For each block of B's output along the concat axis, which of A's blocks it holds."""
    values = evidence.values(pair)
    if values is None or values[1].shape != values[0].shape:
        return None
    out_a, target = values
    order: list[int] = []
    offset = 0
    while len(order) < len(blocks):
        found = next((i for i, b in enumerate(blocks) if i not in order and _fits(
            _block(out_a, axis, b.offset, b.size), _block(target, axis, offset, b.size))), None)
        if found is None:
            return None
        order.append(found)
        offset += blocks[found].size
    return order


def _block(target: np.ndarray, axis: int, offset: int, size: int) -> np.ndarray:
    """``size`` slices of ``target`` along ``axis`` from ``offset`` (fewer past the end)."""
    index = [slice(None)] * target.ndim
    index[axis] = slice(offset, offset + size)
    return target[tuple(index)]


def _concat_axis(shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> int | None:
    """The axis along which blocks of ``shapes`` stack up to ``out``."""
    for axis in range(len(out)):
        rest = [s[:axis] + s[axis + 1:] for s in shapes]
        if (all(len(s) == len(out) for s in shapes) and sum(s[axis] for s in shapes) == out[axis]
                and all(r == out[:axis] + out[axis + 1:] for r in rest)):
            return axis
    return None


def _concat_hint(evidence: Evidence, pair: PairResult, blocks: list[_Block], axis: int,
                 order: list[int]) -> Hint:
    concat_b = evidence.node_of_class("b", pair.b, _CONCAT) or pair.b
    b_inputs = evidence.graph_b.node(concat_b).inputs if concat_b in evidence.graph_b else ()
    named_b = dict(zip(order, b_inputs)) if len(b_inputs) == len(blocks) else {}

    def name(i: int, side: str) -> str:
        block = blocks[i]
        if block.pair is not None:
            return f"`{block.pair.a if side == 'a' else block.pair.b}`"
        if side == "b" and i in named_b:
            return f"`{named_b[i]}`"
        return f"a constant block of {block.size}"

    def listed(indices: list[int], side: str) -> str:
        return ", ".join(name(i, side) for i in indices)

    in_order = list(range(len(blocks)))
    sizes_a = ", ".join(str(b.size) for b in blocks)
    sizes_b = ", ".join(str(blocks[i].size) for i in order)
    message = (f"B's `{pair.b}` joins its inputs in the order ({listed(order, 'b')}) where "
               f"A's `{pair.a}` joins the same tensors as ({listed(in_order, 'a')}) along axis "
               f"{axis} (block sizes: A {sizes_a}, B {sizes_b}): the blocks match once "
               f"reordered. Make them agree on the converted side: in B "
               f"({evidence.b.path.name}), list the inputs of `{concat_b}` as "
               f"({listed(in_order, 'b')}); or in A ({evidence.a.path.name}), list the "
               f"inputs of `{pair.a}` as ({listed(order, 'a')}).")
    return Hint(CONCAT_ORDER, pair.a, message,
                {"order_b": [name(i, "b").strip("`") for i in order],
                 "order_a": [name(i, "a").strip("`") for i in in_order],
                 "axis": axis, "sizes_a": [b.size for b in blocks],
                 "b_node": pair.b})


# -- weights ------------------------------------------------------------------------------


def weights_differ(evidence: Evidence) -> list[Hint]:
    """A layer whose input agrees but whose learned parameters differ between the sides."""
    hints = []
    for pair in evidence.roots:
        if pair.status == SHAPE_MISMATCH:
            continue
        params_a = parameters_by_class(evidence, "a", pair.a, running=False)
        params_b = parameters_by_class(evidence, "b", pair.b, running=False)
        if not params_a or set(params_a) != set(params_b):
            continue  # nothing to compare, or one side folds layers the other keeps
        upstream = evidence.upstream(pair)
        differences = {}
        for cls, found_a in params_a.items():
            for key in (k for k in found_a if k in params_b[cls]):
                found = _difference(evidence, upstream, key, found_a[key], params_b[cls][key])
                if found is not None:
                    differences[key] = found
        if differences:
            hints.append(_weights_hint(evidence, pair, differences))
    return hints


def runs_in_training(graph: Graph, name: str) -> bool:
    """A training flag baked into the node (TorchScript ``training``, ONNX ``training_mode``)."""
    attrs = graph.node(name).attrs
    return bool(attrs.get("training") or attrs.get("training_mode"))


def parameters_by_class(evidence: Evidence, side: str, node: str,
                        running: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """Parameters of ``node`` and its fold interior, merged per op class (Caffe's BatchNorm
    and Scale are one). ``running=False`` leaves out the running statistics of BatchNorms
    that run in training mode (they are unused)."""
    graph = evidence.graph(side)
    merged: dict[str, dict[str, np.ndarray]] = {}
    for name in evidence.chain(side, node):
        if name not in graph:
            continue  # a graph input
        params = evidence.parameters(side, name)
        if not running and runs_in_training(graph, name):
            params = {k: v for k, v in params.items() if k not in ("mean", "var")}
        if not params:
            continue
        merged.setdefault(op_class(graph.node(name).op), {}).update(params)
    return merged


def _difference(evidence: Evidence, upstream: list[PairResult], key: str, wa: np.ndarray,
                wb: np.ndarray) -> tuple[float, list[int]] | None:
    """Max |difference| and the differing output channels; None when the parameters agree
    or differ in a way another check owns."""
    if wa.size != wb.size or [d for d in wa.shape if d != 1] != [d for d in wb.shape if d != 1]:
        return None
    wa, wb = wa.astype(np.float64), wb.reshape(wa.shape).astype(np.float64)
    diff = np.abs(wa - wb)
    scale = max(float(np.abs(wa).max(initial=0.0)), float(np.abs(wb).max(initial=0.0)), 1e-12)
    if diff.max(initial=0.0) <= _SAME * scale or _owned_elsewhere(evidence, upstream, key,
                                                                  wa, wb):
        return None
    per_channel = diff.reshape(diff.shape[0], -1).max(axis=1)
    channels = np.flatnonzero(per_channel > _SAME * scale)
    return float(diff.max()), [int(c) for c in channels]


def _owned_elsewhere(evidence: Evidence, upstream: list[PairResult], key: str, wa: np.ndarray,
                     wb: np.ndarray) -> bool:
    """Float16 rounding (precision), reversed input channels of a first convolution
    (channel_order), or columns in the other flatten order (flatten_order)."""
    half = any(np.array_equal(x.astype(np.float16).astype(np.float64), y)
               for x, y in ((wa, wb), (wb, wa)))
    reversed_rgb = wa.ndim == 4 and wa.shape[1] > 1 and np.allclose(np.flip(wa, axis=1), wb)
    return half or reversed_rgb or (
        key == "weight" and wa.ndim == 2 and _columns_permuted(evidence, upstream, wa, wb))


def _columns_permuted(evidence: Evidence, upstream: list[PairResult], wa: np.ndarray,
                      wb: np.ndarray) -> bool:
    """``wb`` is ``wa`` with its columns in the other flatten order (C,H,W vs H,W,C), judged
    on the first rows (a dense layer's weights can be large)."""
    if len(upstream) != 1:
        return False
    kept = evidence.values(upstream[0])
    wa, wb = wa[:_SAMPLED_ROWS], wb[:_SAMPLED_ROWS]
    for chw in flatten_shapes(evidence, upstream[0], wa.shape[1],
                              kept[0] if kept is not None else None):
        index = _hwc_index(chw)
        if np.allclose(wa[:, index], wb) or np.allclose(wa, wb[:, index]):
            return True
    return False


def _weights_file(backend: Backend) -> str:
    """The file holding the backend's weights (a Caffe .caffemodel), else its model file."""
    return Path(backend.weights or backend.path).name


def _holder(evidence: Evidence, side: str, node: str, key: str) -> str:
    """The node of ``node``'s chain that holds parameter ``key`` (Caffe: BatchNorm or Scale)."""
    return next((n for n in evidence.chain(side, node) if key in evidence.parameters(side, n)),
                node)


def _weights_hint(evidence: Evidence, pair: PairResult,
                  differences: dict[str, tuple[float, list[int]]]) -> Hint:
    described = "; ".join(
        f"{key}: largest difference {gap:.3g}, in output channel(s) "
        f"{', '.join(map(str, channels[:_SHOWN_CHANNELS]))}"
        f"{' ...' if len(channels) > _SHOWN_CHANNELS else ''}"
        for key, (gap, channels) in differences.items())
    copied = ", ".join(f"the {key} of `{_holder(evidence, 'b', pair.b, key)}`"
                       for key in differences)
    message = (f"`{pair.a}`: its input agrees but its parameters differ between the sides "
               f"({described}): the layer's conversion is at fault, not its math. Make them "
               f"agree on the converted side: in B ({_weights_file(evidence.b)}), copy {copied} "
               f"from A's `{pair.a}` (check how the converter lays out and scales them); or in "
               f"A ({_weights_file(evidence.a)}), load the weights B was converted from.")
    return Hint(WEIGHTS_DIFFER, pair.a, message,
                {"b_node": pair.b, "parameters": {
                    key: {"max_abs": gap, "channels": channels}
                    for key, (gap, channels) in differences.items()}})
