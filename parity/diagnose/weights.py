"""A layer whose input agrees but whose learned parameters differ (weights_differ)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backend import Backend
from ..graph import Graph
from ..ops import op_class
from ..report import SHAPE_MISMATCH, Hint, PairResult
from ..verdict.numerics import stored_dtype, unit_roundoff
from .codes import WEIGHTS_DIFFER
from .evidence import Evidence
from .flatten import flatten_shapes, hwc_index

_SAME = 1e-6  # largest parameter difference, relative to its range, that counts as equal
_SHOWN_CHANNELS = 8
_SAMPLED_ROWS = 16
# what the first axis of a parameter counts, where not output channels
_WHERE = {"table": "expert(s) (the entries of its first axis the index picks)"}


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
        rounding = _stored_rounding(evidence, pair)
        differences = {}
        for cls, found_a in params_a.items():
            for key in (k for k in found_a if k in params_b[cls]):
                found = _difference(evidence, upstream, key, found_a[key], params_b[cls][key],
                                    rounding)
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


def _stored_rounding(evidence: Evidence, pair: PairResult) -> float:
    """The relative rounding of weights one side stores narrower than it computes (an IR
    compressed to f16), 0 when neither does."""
    stored = [d for d in (stored_dtype(evidence.graph("a"), pair.a),
                          stored_dtype(evidence.graph("b"), pair.b)) if d]
    return max((unit_roundoff(d) for d in stored), default=0.0)


def _difference(evidence: Evidence, upstream: list[PairResult], key: str, wa: np.ndarray,
                wb: np.ndarray, rounding: float = 0.0) -> tuple[float, list[int]] | None:
    """Max |difference| and the differing output channels (beyond ``rounding`` of each
    value, the storage's); None when the parameters agree or differ in a way another
    check owns."""
    if wa.size != wb.size or [d for d in wa.shape if d != 1] != [d for d in wb.shape if d != 1]:
        return None
    wa, wb = wa.astype(np.float64), wb.reshape(wa.shape).astype(np.float64)
    scale = max(float(np.abs(wa).max(initial=0.0)), float(np.abs(wb).max(initial=0.0)), 1e-12)
    diff = np.abs(wa - wb)
    beyond = diff > _SAME * scale + rounding * np.maximum(np.abs(wa), np.abs(wb))
    if not beyond.any() or _owned_elsewhere(evidence, upstream, key, wa, wb):
        return None
    channels = np.flatnonzero(beyond.reshape(beyond.shape[0], -1).any(axis=1))
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
        index = hwc_index(chw)
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
        f"{key}: largest difference {gap:.3g}, in {_WHERE.get(key, 'output channel(s)')} "
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
