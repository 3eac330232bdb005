"""Isolated replay: run B's layer alone on A's input tensors.

For a divergence root, B's nodes between its compared inputs and its output are run on
the tensors A computed there: with the onnx reference evaluator for an ONNX side (the
nodes themselves, cut out of the model), else with the numpy references of the op
families. If B's layer, fed A's input, still lands away from A's output, its own math
differs (its conversion is wrong); if it lands on A's output, it merely received error.
The same replay on B's own inputs must reproduce B's output, or the replay is not
trusted.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics import compare_arrays
from ..ops import family
from ..report import SHAPE_MISMATCH, Hint, PairResult
from . import codes, reference
from .evidence import Evidence
from .vocabulary import describe
from .vocabulary.onnx_constants import onnx_segment

_OWN_SHARE = 0.5  # of the pair's gap that a replay on A's input still shows: its own math
Feeds = Mapping[str, np.ndarray]  # B's upstream node -> the tensor fed in its place


@dataclass(frozen=True)
class Replay:
    """B's layer run alone: on A's inputs, and (as a check) on B's own."""

    node_b: str
    engine: str
    own_math: bool
    max_abs: float  # replayed on A's input, against A's output
    faithful_max_abs: float  # replayed on B's input, against B's output

    def sentence(self) -> str:
        if self.own_math:
            return (f"Replayed alone on A's input ({self.engine}), B's `{self.node_b}` still "
                    f"differs from A by {self.max_abs:.3g}: this layer's own math differs "
                    f"(its conversion is wrong).")
        return (f"Replayed alone on A's input ({self.engine}), B's `{self.node_b}` matches "
                f"A's output (max-abs {self.max_abs:.3g}): it received error from upstream; "
                f"its own math is right.")

    def evidence(self) -> dict[str, Any]:
        return {"verdict": "own_math" if self.own_math else "received_error",
                "engine": self.engine, "max_abs": self.max_abs,
                "faithful_max_abs": self.faithful_max_abs, "b_node": self.node_b}


def replay(evidence: Evidence, pair: PairResult) -> Replay | None:
    """B's layer of ``pair`` run on A's tensors at its compared inputs, if it can be."""
    values = evidence.values(pair)
    upstream = evidence.upstream(pair)
    if values is None or not upstream or pair.status == SHAPE_MISMATCH or pair.is_input:
        return None
    kept = [evidence.values(u) for u in upstream]
    if any(k is None or k[0].shape != k[1].shape for k in kept):
        return None
    feeds_a = {u.b: k[0] for u, k in zip(upstream, kept) if k is not None}
    feeds_b = {u.b: k[1] for u, k in zip(upstream, kept) if k is not None}
    engine = "onnx reference evaluator" if evidence.b.name == "onnxrt" else "numpy reference"
    run = _onnx_run if evidence.b.name == "onnxrt" else _numpy_run
    on_a, on_b = run(evidence, pair.b, feeds_a), run(evidence, pair.b, feeds_b)
    out_a, out_b = values
    if on_a is None or on_b is None or on_b.size != out_b.size or on_a.size != out_a.size:
        return None
    tolerance = evidence.tolerance
    faithful = compare_arrays(on_b.reshape(out_b.shape).astype(out_b.dtype), out_b, tolerance)
    if not faithful.passed and faithful.max_abs > 0.1 * _gap(pair):
        return None  # the replay does not compute what B computes: no verdict
    against_a = compare_arrays(on_a.reshape(out_a.shape).astype(out_a.dtype), out_a,
                               tolerance)
    if against_a.nan_a + against_a.nan_b + against_a.inf_a + against_a.inf_b:
        return None  # masks and overflow: the values, not the layer, decide
    # its own math when the replay misses A's output by the tolerance, or by half the gap
    # the pair shows (a gap below the tolerance yet beyond the pair's noise bound)
    own_math = not against_a.passed or against_a.max_abs >= _OWN_SHARE * _gap(pair)
    return Replay(pair.b, engine, own_math, float(against_a.max_abs), float(faithful.max_abs))


def _gap(pair: PairResult) -> float:
    return pair.metrics.max_abs if pair.metrics is not None else float("inf")


def annotate(evidence: Evidence, hints: Sequence[Hint]) -> list[Hint]:
    """The hints with the first divergence's replay added: to the hints naming that node,
    or as a hint of its own (``layer_math_differs`` / ``received_error``)."""
    roots = [r for r in evidence.roots if not r.is_input]
    if not roots:
        return list(hints)
    root = roots[0]
    found = replay(evidence, root)
    if found is None:
        return list(hints)
    at_root = [h for h in hints if h.node == root.a]
    if not at_root:
        if not _same_layer(evidence, root):
            return list(hints)  # a replay of a doubtful pair proves nothing on its own
        code = codes.LAYER_MATH_DIFFERS if found.own_math else codes.RECEIVED_ERROR
        return [*hints, Hint(code, root.a, f"`{root.a}`: {found.sentence()}",
                             {"replay": found.evidence()})]
    return [Hint(h.code, h.node, f"{h.message} {found.sentence()}",
                 {**h.evidence, "replay": found.evidence()}) if h.node == root.a else h
            for h in hints]


def _same_layer(evidence: Evidence, pair: PairResult) -> bool:
    """Both sides run an op of one family that the vocabulary describes or that holds
    parameters: then a replay that disagrees speaks of the layer, not of the pairing."""
    op_a, op_b = evidence.graph_a.op_of(pair.a), evidence.graph_b.op_of(pair.b)
    if family(op_a) != family(op_b):
        return False
    described = bool(describe(evidence.a, pair.a)) and bool(describe(evidence.b, pair.b))
    weighted = bool(evidence.parameters("a", pair.a)) and bool(evidence.parameters("b", pair.b))
    return described or weighted


# -- engines ------------------------------------------------------------------------------


def _onnx_run(evidence: Evidence, node: str, feeds: Feeds) -> np.ndarray | None:
    """B's ONNX nodes from ``feeds`` to ``node``, cut out and run by the reference evaluator."""
    segment = onnx_segment(evidence.b, node, list(feeds))
    if segment is None:
        return None
    model, tensor_of = segment
    from onnx.reference import ReferenceEvaluator

    try:
        inputs = {tensor_of[name]: np.ascontiguousarray(value).astype(np.float32)
                  for name, value in feeds.items() if name in tensor_of}
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its failures
            evaluator = ReferenceEvaluator(model)
            return np.asarray(evaluator.run(None, inputs)[0], dtype=np.float64)
    except Exception:  # an op the reference evaluator lacks, or one it rejects: no replay
        return None


def _numpy_run(evidence: Evidence, node: str, feeds: Feeds) -> np.ndarray | None:
    """B's node and its fold interior, op by op, with the numpy references."""
    backend, graph = evidence.b, evidence.graph_b
    values: dict[str, np.ndarray] = {k: v.astype(np.float64) for k, v in feeds.items()}
    for name in evidence.chain("b", node):
        if name not in graph:
            return None
        inputs = [values.get(i) for i in graph.node(name).inputs]
        if not inputs or any(x is None for x in inputs):
            return None
        y = _numpy_op(family(graph.node(name).op), inputs,  # type: ignore[arg-type]
                      describe(backend, name), backend.parameters(name),
                      graph.node(name).attrs)
        if y is None:
            return None
        values[name] = y
    return values.get(node)


def _numpy_op(fam: str, inputs: list[np.ndarray], attrs: Mapping[str, Any],
              params: Mapping[str, np.ndarray], raw: Mapping[str, Any]) -> np.ndarray | None:
    x = inputs[0]
    if "activation" in attrs:
        return reference.activation(x, attrs, params)
    if fam == "conv" and not raw.get("transposed"):
        return reference.conv(x, attrs, params)
    if fam == "batchnorm":
        return reference.batchnorm(x, params, float(raw.get("eps", 1e-5)))
    if fam == "scale" and "gamma" in params:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        beta = params.get("beta", np.zeros_like(params["gamma"]))
        return x * params["gamma"].reshape(shape) + beta.reshape(shape)
    if "pool" in attrs:
        return reference.pool(x, attrs)
    if fam in ("add", "eltwise") and raw.get("operation", "SUM") in ("SUM", "sum"):
        return np.sum(np.broadcast_arrays(*inputs), axis=0)
    if fam == "concat" and "axis" in attrs:
        return np.concatenate(inputs, axis=int(attrs["axis"]))
    if fam == "linear" and "weight" in params:
        weight = params["weight"]  # on the last axis (per token), else of the flattened x
        flat = x if x.shape[-1] == weight.shape[1] else x.reshape(x.shape[0], -1)
        if flat.shape[-1] != weight.shape[1]:
            return None
        return flat @ weight.T + params.get("bias", 0.0)
    if fam == "softmax":
        return reference.softmax(x, int(attrs.get("axis", 1)))
    return None
