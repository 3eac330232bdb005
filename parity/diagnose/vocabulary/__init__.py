"""One framework-neutral vocabulary of layer attributes, and each backend's words for it.

Every backend describes an op in its own terms (ONNX ``LeakyRelu.alpha``, torch
``leaky_relu(x, negative_slope)``, Caffe ``relu_param.negative_slope``, MXNet
``LeakyReLU(slope=...)``). Each backend's words are data, with its record: the module its
record names as ``vocabulary`` (``parity/backends/<module>_vocabulary.py``) says which op
means which neutral attributes, under which names, with which defaults, and how to word a
change. :func:`describe` reads a node through them, so checks compare
``{"activation": "leaky_relu", "slope": 0.1}`` with ``{"activation": "leaky_relu",
"slope": 0.01}`` whatever the frameworks.
"""

from __future__ import annotations

import importlib
import math
from functools import cache
from typing import Any

from ...backend import Backend
from ...ops import op_key
from ...registry import find_record
from .words import OpWords, Vocabulary

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


@cache
def vocabulary(name: str) -> Vocabulary | None:
    """The vocabulary backend ``name``'s record names (a module of parity.backends, or a
    dotted import name for a backend outside parity), None when it has none."""
    info = find_record(name)
    if info is None or not info.vocabulary:
        return None
    module = info.vocabulary if "." in info.vocabulary else f"parity.backends.{info.vocabulary}"
    return importlib.import_module(module).VOCABULARY


def words_of(backend: Backend, node: str) -> OpWords | None:
    """The vocabulary entry of ``node``'s op in ``backend``, if it has one."""
    if node not in backend.graph:
        return None
    words = vocabulary(backend.name)
    return None if words is None else words.ops.get(op_key(backend.graph.node(node).op))


def describe(backend: Backend, node: str) -> dict[str, Any]:
    """``node``'s attributes in the neutral vocabulary (empty for ops it does not know)."""
    words = words_of(backend, node)
    if words is None:
        return {}
    attrs = backend.graph.node(node).attrs
    found: dict[str, Any] = dict(words.fixed)
    for raw, value in attrs.items():
        found.update(words.meaning(raw, value))
    known = vocabulary(backend.name)
    constants = known.constant_inputs if known is not None else None
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
    clip bounds are one pair, per-axis values (TFLite ``stride_h``, ``stride_w``) one
    tuple, sequences are tuples."""
    for base in ("kernel", "stride", "dilation"):
        if f"{base}_h" in found and f"{base}_w" in found:
            found[base] = (int(found.pop(f"{base}_h")), int(found.pop(f"{base}_w")))
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
    known = vocabulary(backend.name)
    advise = known.advice if known is not None else None
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
