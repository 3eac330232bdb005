"""Causes inside one layer: flatten order before a dense layer, concat order, weights."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..backend import Backend
from ..graph import Graph
from ..layout import NHWC, flattened_from
from ..ops import family, op_class
from ..report import SHAPE_MISMATCH, Hint, PairResult
from .codes import CONCAT_ORDER, FLATTEN_ORDER, WEIGHTS_DIFFER
from .evidence import Evidence

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
    """A dense layer whose weights expect its input flattened in the other order."""
    hints = []
    for pair in evidence.roots:
        found = _flatten_fit(evidence, pair) if pair.status != SHAPE_MISMATCH else None
        if found is not None:
            hints.append(_flatten_hint(evidence, pair, *found))
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


# -- concat order -------------------------------------------------------------------------


def concat_order(evidence: Evidence) -> list[Hint]:
    """A concat whose output matches once its input blocks are put in the other order."""
    hints = []
    for pair in evidence.roots:
        if pair.status == SHAPE_MISMATCH or op_class(evidence.graph_a.op_of(pair.a)) != _CONCAT:
            continue
        upstream = evidence.upstream(pair)
        order = _block_order(evidence, pair, upstream)
        if order is not None and order != sorted(order):
            hints.append(_concat_hint(evidence, pair, upstream, order))
    return hints


def _block_order(evidence: Evidence, pair: PairResult,
                 upstream: list[PairResult]) -> list[int] | None:
    """For each block of B's output along the concat axis, which of A's inputs it holds."""
    values = evidence.values(pair)
    blocks = [v[0] for u in upstream if (v := evidence.values(u)) is not None]
    if values is None or len(upstream) < 2 or len(blocks) != len(upstream):
        return None
    target = values[1]
    axis = _concat_axis([b.shape for b in blocks], target.shape)
    if axis is None:
        return None
    order: list[int] = []
    offset = 0
    while len(order) < len(blocks):
        found = next((i for i, block in enumerate(blocks) if i not in order and _fits(
            block, _block(target, axis, offset, block.shape[axis]))), None)
        if found is None:
            return None
        order.append(found)
        offset += blocks[found].shape[axis]
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


def _concat_hint(evidence: Evidence, pair: PairResult, upstream: list[PairResult],
                 order: list[int]) -> Hint:
    names_a = ", ".join(f"`{u.a}`" for u in upstream)
    in_b = ", ".join(f"`{upstream[i].b}`" for i in order)
    wanted_b = ", ".join(f"`{u.b}`" for u in upstream)
    wanted_a = ", ".join(f"`{upstream[i].a}`" for i in order)
    message = (f"B's `{pair.b}` joins its inputs in the order ({in_b}) where A's `{pair.a}` "
               f"joins the same tensors as ({names_a}): the blocks match once reordered. "
               f"Make them agree on the converted side: in B ({evidence.b.path.name}), list "
               f"the inputs of `{pair.b}` as ({wanted_b}); or in A ({evidence.a.path.name}), "
               f"list the inputs of `{pair.a}` as ({wanted_a}).")
    return Hint(CONCAT_ORDER, pair.a, message,
                {"order_b": [upstream[i].b for i in order], "order_a": [u.a for u in upstream],
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
