"""Causes in how two aligned layers are configured: any attribute of the neutral
vocabulary that differs between them, named by its family (activation, pooling padding,
resize, padding placement, normalisation eps, axis) and confirmed, where a numpy
reference of the op exists, by recomputing A's input with B's setting."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ops import family
from ..report import SHAPE_MISMATCH, Hint, PairResult
from . import codes, identify, reference
from .evidence import Evidence
from .vocabulary import LABELS, describe, shown, where

_ACTIVATION_KEYS = frozenset({"activation", "clip", "slope", "approximation", "alpha", "beta"})
_RESIZE_KEYS = frozenset({"resize_mode", "coordinates"})
_AXIS_KEYS = frozenset({"axis", "axes"})
_SIZE_KEYS = frozenset({"sizes", "scales"})
# Kinds (compared as ops by the alignment), what inference never uses (momentum), and
# what another check owns (ceil_mode: pool_ceil_mode).
_IGNORED = frozenset({"norm", "pool", "momentum", "ceil_mode"})
_RTOL = 1e-4  # float attributes stored in float32 by one side still count as equal


@dataclass(frozen=True)
class Setting:
    """One differing attribute: the node holding it on each side and both values."""

    key: str
    node_a: str
    node_b: str
    value_a: Any
    value_b: Any


def attribute_mismatch(evidence: Evidence) -> list[Hint]:
    """Every divergence root whose two layers differ in a neutral attribute."""
    hints = []
    for pair in evidence.roots:
        if pair.is_input or len(pair.shape_a) != len(pair.shape_b):
            continue  # an input, or tensors too unlike to be the same layer
        found_a, found_b = _settings(evidence, "a", pair.a), _settings(evidence, "b", pair.b)
        differing = [
            Setting(key, found_a[key][0], found_b[key][0], found_a[key][1], found_b[key][1])
            for key in found_a if key in found_b and key not in _IGNORED
            and not _same(key, found_a[key][1], found_b[key][1], pair)]
        differing += _output_size(evidence, pair, found_a, found_b, differing)
        if any(s.key == "eps" for s in differing) and found_a.get("norm", ("", ""))[1] in (
                "batch", ""):
            differing = [s for s in differing if s.key != "eps"]  # bn_eps_mismatch owns it
        groups: dict[str, list[Setting]] = {}
        for setting in differing:
            groups.setdefault(_code(setting, found_a, found_b), []).append(setting)
        for code, settings in groups.items():
            hint = _hint(evidence, pair, code, settings, found_a, found_b)
            if hint is not None:
                hints.append(hint)
    return hints


def _output_size(evidence: Evidence, pair: PairResult, found_a: Mapping[str, Any],
                 found_b: Mapping[str, Any], differing: list[Setting]) -> list[Setting]:
    """Two resizes whose output sizes differ, whether or not both sides state their sizes
    (a traced torch model keeps them in the call's arguments)."""
    if ("resize_mode" not in found_a or "resize_mode" not in found_b or len(pair.shape_a) < 3
            or any(s.key in _SIZE_KEYS for s in differing)
            or not (_spatial(evidence, "a", pair.a) and _spatial(evidence, "b", pair.b))):
        return []
    size_a, size_b = tuple(pair.shape_a[2:]), tuple(pair.shape_b[2:])
    if size_a == size_b:
        return []
    return [Setting("sizes", found_a["resize_mode"][0], found_b["resize_mode"][0], size_a,
                    size_b)]


def _spatial(evidence: Evidence, side: str, node: str) -> bool:
    """``node``'s output keeps its resize's NCHW axes: not a reshape or transpose (a TFLite
    Reshape after the resize merges them), not channels-last."""
    graph = evidence.graph(side)
    return (node in graph and family(graph.op_of(node)) not in ("flatten", "transpose")
            and graph.node(node).attrs.get("layout") != "NHWC")


def _settings(evidence: Evidence, side: str, node: str) -> dict[str, tuple[str, Any]]:
    """Neutral attributes of ``node`` and the uncompared layers before it: key -> (holding
    node, value); the nearest holder wins."""
    backend = evidence.backend(side)
    found: dict[str, tuple[str, Any]] = {}
    for name in evidence.stretch(side, node):
        described = describe(backend, name)
        explicit = found.get("pads") if found.get("pad_mode", ("", ""))[1] == "constant" else None
        for key, value in described.items():
            found[key] = (name, value)
        if explicit is not None and "groups" in described and "pads" in described:
            own = described["pads"]
            found["pads"] = explicit if not any(own) else (name, _padded(explicit[1], own))
            del found["pad_mode"]
    return found


def _padded(explicit: Any, own: Any) -> Any:
    """A convolution's padding with the zero padding an explicit Pad op before it adds (a
    TF-style SAME pad that one exporter folds into the convolution and the other keeps)."""
    if not (isinstance(explicit, tuple) and isinstance(own, tuple) and len(explicit) == len(own)):
        return own
    return tuple(int(e) + int(o) for e, o in zip(explicit, own))


def _same(key: str, a: Any, b: Any, pair: PairResult) -> bool:
    if key in _AXIS_KEYS:
        rank = len(pair.shape_a)
        return _axes(a, rank) == _axes(b, rank) or _axes(a, rank + _count(a)) == _axes(
            b, rank + _count(b))
    if isinstance(a, tuple) and isinstance(b, tuple) and key in ("scales", "sizes"):
        a, b = a[-2:], b[-2:]  # spatial only: ONNX also lists N and C
    if (isinstance(a, tuple) and isinstance(b, tuple) and len(a) != len(b)
            and len(set(a)) == len(set(b)) == 1):
        # one value throughout, however many times written: torch's Conv1d padding (1,)
        # reads as (1, 1, 1, 1) (a lone value pads both axes of a 2-D conv), ONNX's (1, 1)
        a, b = a[:1], b[:1]
    try:
        left, right = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return a == b
    return left.shape == right.shape and bool(np.allclose(left, right, rtol=_RTOL, atol=0))


def _count(value: Any) -> int:
    return len(value) if isinstance(value, tuple) else 1


def _axes(value: Any, rank: int) -> tuple[int, ...]:
    items = value if isinstance(value, tuple) else (value,)
    return tuple(sorted(int(v) % rank if rank else int(v) for v in items))


def _code(setting: Setting, found_a: Mapping[str, Any], found_b: Mapping[str, Any]) -> str:
    key = setting.key
    if key in _ACTIVATION_KEYS and ("activation" in found_a or "activation" in found_b):
        return codes.ACTIVATION_CHANGED
    if key in _RESIZE_KEYS:
        return codes.RESIZE_MODE
    if key in _SIZE_KEYS:
        return codes.RESIZE_SIZE
    if key == "eps":
        return codes.NORM_EPS_MISMATCH
    if key in _AXIS_KEYS:
        return codes.AXIS_MISMATCH
    is_avg = found_a.get("pool", ("", ""))[1] == "avg"
    if key == "count_include_pad" or (key == "pads" and is_avg):
        return codes.POOL_PADDING
    if key == "pads" and _same_totals(setting.value_a, setting.value_b):
        return codes.PAD_PLACEMENT
    return codes.ATTRIBUTE_MISMATCH


def _same_totals(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    half = len(a) // 2
    return len(a) == len(b) and all(a[i] + a[i + half] == b[i] + b[i + half]
                                    for i in range(half))


# -- confirming by recomputation ----------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """A's input of the layer and both sides' outputs, as float64."""

    x: np.ndarray
    out_a: np.ndarray
    out_b: np.ndarray
    gap: float
    atol: float

    def reproduces_b(self, y: np.ndarray | None) -> bool:
        """Whether ``y`` (computed from A's input) is B's output, to a tenth of the gap."""
        if y is None or y.size != self.out_b.size:
            return False
        misfit = float(np.abs(y.reshape(self.out_b.shape) - self.out_b).max())
        return misfit <= max(0.1 * self.gap, 10 * self.atol)


def _layer(evidence: Evidence, pair: PairResult) -> _Layer | None:
    """The layer's values when it has one compared input feeding its first node."""
    values = evidence.values(pair)
    upstream = evidence.upstream(pair)
    if values is None or len(upstream) != 1 or pair.status == SHAPE_MISMATCH:
        return None
    before = evidence.values(upstream[0])
    head = evidence.chain("a", pair.a)[0]
    if before is None or evidence.graph_a.node(head).inputs != (upstream[0].a,):
        return None
    x, out_a, out_b = (v.astype(np.float64) for v in (before[0], *values))
    if out_a.size != out_b.size:
        return None
    gap = float(np.abs(out_a - out_b.reshape(out_a.shape)).max())
    return _Layer(x, out_a, out_b.reshape(out_a.shape), gap, evidence.tolerance.atol)


def _recomputed(evidence: Evidence, pair: PairResult, code: str, settings: list[Setting],
                found_a: Mapping[str, Any], found_b: Mapping[str, Any]) -> bool | None:
    """Whether A's layer, recomputed on A's input with B's values of ``settings`` (and
    B's whole activation when that differs), reproduces B's output; None when it cannot
    be recomputed here."""
    layer = _layer(evidence, pair)
    if layer is None:
        return None
    attrs = {key: value for key, (_, value) in found_a.items()}
    attrs.update({s.key: s.value_b for s in settings})
    if code == codes.ACTIVATION_CHANGED:
        attrs = {key: value for key, value in attrs.items() if key not in _ACTIVATION_KEYS}
        attrs.update({key: value for key, (_, value) in found_b.items()
                      if key in _ACTIVATION_KEYS})
    y = _recompute(code, layer.x, attrs, layer.out_a, layer.out_b, settings,
                   evidence.parameters("a", pair.a))
    return None if y is None or y.size != layer.out_b.size else layer.reproduces_b(y)


def _identified(evidence: Evidence, pair: PairResult, found_a: Mapping[str, Any]
                ) -> identify.Identified | None:
    """What B's activation computes, found on A's input; ``FAITHFUL`` when it is A's own
    activation (B only spells it in other ops), None when no known function fits."""
    layer = _layer(evidence, pair)
    if layer is None:
        return None
    attrs = {key: value for key, (_, value) in found_a.items()}
    if layer.reproduces_b(reference.activation(layer.x, attrs, evidence.parameters(
            "a", pair.a))):
        return FAITHFUL
    return identify.activation(layer.x, layer.out_b, layer.reproduces_b)


FAITHFUL = identify.Identified("A's own activation", {})


def _recompute(code: str, x: np.ndarray, attrs: dict[str, Any], out_a: np.ndarray,
               out_b: np.ndarray, settings: list[Setting],
               params: Mapping[str, np.ndarray]) -> np.ndarray | None:
    if code == codes.ACTIVATION_CHANGED:
        return reference.activation(x, attrs, params)
    if code in (codes.POOL_PADDING, codes.ATTRIBUTE_MISMATCH) and "pool" in attrs:
        return reference.pool(x, attrs)
    if code == codes.RESIZE_MODE and out_b.ndim == 4:
        return reference.resize(x, attrs, out_b.shape[2:])
    if code == codes.PAD_PLACEMENT and "pool" not in attrs and "groups" not in attrs:
        return reference.pad(x, attrs["pads"])
    if code == codes.AXIS_MISMATCH and "axis" in attrs and x.shape == out_b.shape:
        return reference.softmax(x, int(attrs["axis"]))
    if code == codes.NORM_EPS_MISMATCH:
        return _norm_with_eps(x, attrs, out_a, settings)
    return None


def _norm_with_eps(x: np.ndarray, attrs: Mapping[str, Any], out_a: np.ndarray,
                   settings: list[Setting]) -> np.ndarray | None:
    """A's normalisation with B's eps: A's own affine part is fitted per channel from A's
    output, so the layer's scale and shift need not be known."""
    kind = attrs.get("norm", "")
    eps_a = next(s.value_a for s in settings if s.key == "eps")
    groups = int(attrs.get("groups", 1))
    with_a = reference.normalised(x, kind, float(eps_a), groups)
    with_b = reference.normalised(x, kind, float(attrs["eps"]), groups)
    if with_a is None or with_b is None or with_a.shape != out_a.shape:
        return None
    axis = -1 if kind == "layer" else 1
    na, nb, ya = (np.moveaxis(v, axis, 0).reshape(v.shape[axis], -1)
                  for v in (with_a, with_b, out_a))
    fitted = np.empty_like(nb)
    for c in range(na.shape[0]):
        design = np.stack([na[c], np.ones_like(na[c])], axis=1)
        (scale, shift), *_ = np.linalg.lstsq(design, ya[c], rcond=None)
        fitted[c] = scale * nb[c] + shift
    shape = np.moveaxis(with_b, axis, 0).shape
    return np.moveaxis(fitted.reshape(shape), 0, axis)


# -- the hint -----------------------------------------------------------------------------

_WHAT = {
    codes.ACTIVATION_CHANGED: "the activation differs",
    codes.RESIZE_MODE: "the resize differs",
    codes.RESIZE_SIZE: "the resize's output size differs",
    codes.NORM_EPS_MISMATCH: "the normalisation eps differs",
    codes.AXIS_MISMATCH: "the axis differs",
    codes.POOL_PADDING: "the pooling counts its padding differently",
    codes.PAD_PLACEMENT: "the padding is placed on other sides (same total)",
    codes.ATTRIBUTE_MISMATCH: "an attribute differs",
}


def _hint(evidence: Evidence, pair: PairResult, code: str, settings: list[Setting],
          found_a: Mapping[str, Any], found_b: Mapping[str, Any]) -> Hint | None:
    confirmed = _recomputed(evidence, pair, code, settings, found_a, found_b)
    if code == codes.POOL_PADDING and not confirmed:
        whole = _whole_kernel_hint(evidence, pair, found_a)
        if whole is not None:
            return whole
    if code == codes.ACTIVATION_CHANGED and not confirmed:
        found = _identified(evidence, pair, found_a)
        if found is FAITHFUL:
            return None  # B decomposes A's activation faithfully: its ops only look other
        if found is not None:
            return _identified_hint(evidence, pair, settings, found)
    a, b = evidence.a, evidence.b
    described = "; ".join(
        f"{LABELS.get(s.key, s.key)}: A ({a.name}) `{s.node_a}` {shown(s.key, s.value_a)}, "
        f"B ({b.name}) `{s.node_b}` {shown(s.key, s.value_b)}" for s in settings)
    fix_b = "; ".join(where(b, s.node_b, s.key, s.value_a) for s in settings)
    fix_a = "; ".join(where(a, s.node_a, s.key, s.value_b) for s in settings)
    message = (f"`{pair.a}`: {_WHAT[code]} ({described}). Make them agree on the converted "
               f"side: in B, {fix_b}; or in A, {fix_a}.")
    if confirmed:
        message += " Recomputing A's input with B's setting reproduces B's output."
    return Hint(code, pair.a, message, {
        "b_node": pair.b,
        "attributes": {s.key: {"a": _plain(s.value_a), "b": _plain(s.value_b),
                               "node_a": s.node_a, "node_b": s.node_b} for s in settings},
        "recomputed_matches": confirmed})


def _whole_kernel_hint(evidence: Evidence, pair: PairResult,
                       found_a: Mapping[str, Any]) -> Hint | None:
    """B's average pool divides every window by the whole kernel (its padding, and the
    part of a ceil_mode window past the map, counted as zeros): confirmed by recomputing
    A's input that way."""
    layer = _layer(evidence, pair)
    attrs = {key: value for key, (_, value) in found_a.items()}
    if layer is None or attrs.get("pool") != "avg" or layer.x.ndim != 4:
        return None
    if not layer.reproduces_b(reference.pool(layer.x, attrs, whole_kernel=True)):
        return None
    ones = np.ones((1, 1, *layer.x.shape[2:]))
    cells = reference.pool(ones, attrs, whole_kernel=True)
    own = reference.pool(ones, attrs)
    if cells is None or own is None:
        return None
    kernel = tuple(attrs["kernel"])
    area = math.prod(kernel)
    divisors = np.round(cells * area / own).astype(int)
    low, high = int(divisors.min()), int(divisors.max())
    counted = f"{low}" if low == high else f"{low} to {high}"
    node_a = found_a["pool"][0]
    described = ", ".join(f"{LABELS.get(key, key)} {shown(key, attrs[key])}" for key in (
        "kernel", "stride", "pads", "ceil_mode", "count_include_pad") if key in attrs)
    b = evidence.b
    message = (f"`{pair.a}`: the pooling counts its padding differently: B's `{pair.b}` "
               f"divides every window by the whole kernel ({kernel[0]}x{kernel[1]} = {area} "
               f"cells, padding and any part past the map counted as zeros), where A's "
               f"`{node_a}` ({described}) divides by the {counted} cell(s) it covers. "
               f"Recomputing A's input with the whole-kernel divisor reproduces B's output. "
               f"A converter that pads explicitly up to the kernel before a VALID average "
               f"pool does this. Make them agree on the converted side: in B ({b.path.name}), "
               f"convert `{node_a}` as a pool that counts only the cells of its input (or a "
               f"mean over the map where the kernel covers all of it); or in A, pad "
               f"explicitly with zeros up to the kernel before `{node_a}`.")
    return Hint(codes.POOL_PADDING, pair.a, message, {
        "b_node": pair.b, "whole_kernel": area, "divisor_a": [low, high],
        "recomputed_matches": True})


def _identified_hint(evidence: Evidence, pair: PairResult, settings: list[Setting],
                     found: identify.Identified) -> Hint:
    """B's activation named by what it computes (its ops do not say it)."""
    a, b = evidence.a, evidence.b
    kind = next((s for s in settings if s.key == "activation"), settings[0])
    node_a, value_a = kind.node_a, shown(kind.key, kind.value_a)
    if kind.key != "activation":
        value_a = f"{LABELS.get(kind.key, kind.key)} {value_a}"
    message = (f"`{pair.a}`: the activation differs (activation: A ({a.name}) `{node_a}` "
               f"{value_a}, B ({b.name}) `{pair.b}` computes {found.formula}: recomputing "
               f"A's input with it reproduces B's output). Make them agree on the converted "
               f"side: in B ({b.path.name}), convert `{node_a}` as {value_a} (the ops ending "
               f"at `{pair.b}` compute {found.formula}).")
    return Hint(codes.ACTIVATION_CHANGED, pair.a, message, {
        "b_node": pair.b, "identified": found.formula,
        "attributes": {"activation": {"a": _plain(kind.value_a),
                                      "b": _plain(found.attrs.get("activation")),
                                      "node_a": node_a, "node_b": pair.b}},
        "recomputed_matches": True})


def _plain(value: Any) -> Any:
    """JSON-friendly: tuples as lists, infinities as strings."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
