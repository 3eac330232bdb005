"""One framework-neutral vocabulary of layer attributes, and each backend's words for it.

Every backend describes an op in its own terms (ONNX ``LeakyRelu.alpha``, torch
``leaky_relu(x, negative_slope)``, Caffe ``relu_param.negative_slope``, MXNet
``LeakyReLU(slope=...)``). The per-backend modules here are data only: which op means which
neutral attributes, under which names, with which defaults. :func:`describe` reads a node
through them, so checks compare ``{"activation": "leaky_relu", "slope": 0.1}`` with
``{"activation": "leaky_relu", "slope": 0.01}`` whatever the frameworks.

These tables are meant to move into the backend records (``backends/``) once those exist.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ...backend import Backend
from ...ops import op_key
from . import caffe, mxnet, onnxrt, pytorch
from .onnx_constants import constant_inputs
from .words import OpWords

# Neutral attribute -> how messages name it.
LABELS: dict[str, str] = {
    "activation": "activation", "clip": "clip bounds", "slope": "negative slope",
    "approximation": "approximation", "alpha": "alpha", "beta": "beta",
    "eps": "eps", "momentum": "momentum", "kernel": "kernel", "stride": "stride",
    "pads": "pads (top, left, bottom, right)", "dilation": "dilation", "groups": "groups",
    "ceil_mode": "ceil_mode", "count_include_pad": "count_include_pad", "pool": "pooling",
    "resize_mode": "resize mode", "coordinates": "coordinate mapping", "scales": "scales",
    "sizes": "sizes", "axis": "axis", "axes": "axes", "keepdims": "keepdims",
    "perm": "permutation", "norm": "normalisation",
}

VOCABULARIES: dict[str, Mapping[str, OpWords]] = {
    "onnxrt": onnxrt.OPS, "pytorch": pytorch.OPS, "caffe": caffe.OPS, "mxnet": mxnet.OPS,
}
# Backends whose attributes may also be constant inputs of the node.
CONSTANT_INPUTS = {"onnxrt": constant_inputs}
ADVICE = {"onnxrt": onnxrt.advice, "pytorch": pytorch.advice, "caffe": caffe.advice,
          "mxnet": mxnet.advice}


def words_of(backend: Backend, node: str) -> OpWords | None:
    """The vocabulary entry of ``node``'s op in ``backend``, if it has one."""
    if node not in backend.graph:
        return None
    return VOCABULARIES.get(backend.name, {}).get(op_key(backend.graph.node(node).op))


def describe(backend: Backend, node: str) -> dict[str, Any]:
    """``node``'s attributes in the neutral vocabulary (empty for ops it does not know)."""
    words = words_of(backend, node)
    if words is None:
        return {}
    attrs = backend.graph.node(node).attrs
    found: dict[str, Any] = dict(words.fixed)
    for raw, value in attrs.items():
        found.update(words.meaning(raw, value))
    constants = CONSTANT_INPUTS.get(backend.name)
    if words.inputs and constants is not None:
        values = constants(backend, node)
        for position, spec in words.inputs.items():
            if position < len(values) and values[position] is not None:
                found.update(words.convert(spec, values[position]))
    for key, value in words.defaults.items():
        found.setdefault(key, value)
    return canonical(found)


def canonical(found: dict[str, Any]) -> dict[str, Any]:
    """One spelling per meaning: ReLU is a clip to [0, inf), a zero slope is no leak,
    clip bounds are one pair, sequences are tuples."""
    low, high = found.pop("clip_min", None), found.pop("clip_max", None)
    if low is not None or high is not None:
        found["clip"] = (-math.inf if low is None else float(low),
                         math.inf if high is None else float(high))
    align = found.pop("align_corners", None)
    if align is not None:
        found["coordinates"] = "align_corners" if align else (
            "half_pixel" if found.get("resize_mode") == "bilinear" else "asymmetric")
    if found.get("coordinates") == "pytorch_half_pixel":
        found["coordinates"] = "half_pixel"  # the same but for outputs of size 1
    if found.get("resize_mode") == "linear":
        found["resize_mode"] = "bilinear"
    kind = found.get("activation")
    if kind == "relu":
        found["activation"], found["clip"] = "clip", (0.0, math.inf)
    elif kind == "relu6":
        found["activation"], found["clip"] = "clip", (0.0, 6.0)
    elif kind == "leaky_relu" and found.get("slope", 1.0) == 0.0:
        found.pop("slope")
        found["activation"], found["clip"] = "clip", (0.0, math.inf)
    return {key: tuple(v) if isinstance(v, list) else v for key, v in found.items()}


def where(backend: Backend, node: str, neutral: str, value: Any) -> str:
    """How to give ``node`` of ``backend`` the neutral attribute ``neutral`` = ``value``,
    in that framework's own words."""
    words = words_of(backend, node)
    label = LABELS.get(neutral, neutral)
    op = backend.graph.node(node).op if node in backend.graph else "?"
    if words is None or not words.knows(neutral):
        return (f"replace `{node}` ({op}) by an op with {label} {shown(neutral, value)} "
                f"in {backend.path.name}")
    expressible, written = words.written(neutral, value)
    if not expressible:
        return (f"pad explicitly before `{node}` ({op} pads both sides alike): {label} "
                f"{shown(neutral, value)} in {backend.path.name}")
    spelled = words.spelling(neutral)
    advise = ADVICE.get(backend.name)
    text = shown(neutral, written)
    if advise is None:
        return f"set {spelled}={text} on `{node}` in {backend.path.name}"
    scope = backend.graph.node(node).scope if node in backend.graph else ""
    return advise(node, scope, words, spelled, text, backend.path.name)


def shown(neutral: str, value: Any) -> str:
    """A neutral value as messages print it."""
    if neutral == "clip":
        low, high = value
        return f"[{low:g}, {high:g}]" if math.isfinite(high) else f"[{low:g}, inf)"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v)
                               for v in value) + ")"
    return str(value)
