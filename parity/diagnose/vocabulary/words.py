"""The shape of one op's entry in a backend vocabulary, and the value converters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ...backend import Backend


def _floats(value: Any) -> Any:
    array = np.asarray(value, dtype=np.float64).ravel()
    return float(array[0]) if array.size == 1 else tuple(float(v) for v in array)


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(value).ravel())


def _symmetric_pads(value: Any) -> tuple[int, ...]:
    """Per-axis padding (h, w) -> (top, left, bottom, right)."""
    pads = _ints(value)
    if len(pads) == 1:
        pads = pads * 2
    return pads + pads


def _axis_or_begin_end_pads(value: Any) -> tuple[int, ...]:
    """One value per spatial axis when symmetric, else begins then ends (Keras' pads as
    parity's Keras reader gives them) -> (top, left, bottom, right)."""
    pads = _ints(value)
    return pads + pads if len(pads) <= 2 else pads


def _begin_end_pads(value: Any) -> tuple[int, ...]:
    """ONNX ``pads``: all begins then all ends, already (top, left, bottom, right) in 2-D."""
    return _ints(value)


def _spatial_pad_op(value: Any) -> tuple[int, ...]:
    """ONNX ``Pad`` over N, C, H, W (begins then ends) -> (top, left, bottom, right)."""
    pads = _ints(value)
    half = len(pads) // 2
    begins, ends = pads[:half], pads[half:]
    return begins[2:] + ends[2:] if half > 2 else begins + ends


def _torch_pad(value: Any) -> tuple[int, ...]:
    """torch ``F.pad`` order (left, right, top, bottom) -> (top, left, bottom, right)."""
    pads = _ints(value)
    pairs = [pads[i:i + 2] for i in range(0, len(pads), 2)][::-1]  # first dim first
    return tuple(p[0] for p in pairs) + tuple(p[1] for p in pairs)


def _trailing_axes(value: Any) -> tuple[int, ...]:
    """torch ``normalized_shape`` -> the trailing axes it spans."""
    return tuple(range(-len(_ints(value)), 0))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _as_symmetric(pads: tuple[int, ...]) -> tuple[int, ...] | None:
    half = len(pads) // 2
    return pads[:half] if pads[:half] == pads[half:] else None


def _as_torch_pad(pads: tuple[int, ...]) -> tuple[int, ...]:
    half = len(pads) // 2
    return tuple(v for i in reversed(range(half)) for v in (pads[i], pads[i + half]))


def _as_pad_op(pads: tuple[int, ...]) -> tuple[int, ...]:
    half = len(pads) // 2
    return (0, 0, *pads[:half], 0, 0, *pads[half:])


# Converter -> how to write a neutral value back in the file's form (None: not expressible).
INVERSES: dict[str, Callable[[Any], Any]] = {
    "symmetric_pads": _as_symmetric, "torch_pad": _as_torch_pad,
    "spatial_pad_op": _as_pad_op,
}

CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "float": _floats, "ints": _ints, "int": lambda v: int(np.asarray(v).ravel()[0]),
    "bool": lambda v: bool(int(v)) if not isinstance(v, str) else v.lower() == "true",
    "text": _text, "lower": lambda v: _text(v).lower(),
    "symmetric_pads": _symmetric_pads, "begin_end_pads": _begin_end_pads,
    "spatial_pad_op": _spatial_pad_op, "torch_pad": _torch_pad,
    "trailing_axes": _trailing_axes, "axis_or_begin_end_pads": _axis_or_begin_end_pads,
}


@dataclass(frozen=True)
class OpWords:
    """One op of one backend in the neutral vocabulary.

    Attributes:
        fixed: neutral attributes the op itself means (``{"activation": "gelu"}``).
        attrs: node attribute (as the backend reports it) -> ``(neutral, converter)``.
        inputs: constant input position -> ``(neutral, converter)`` (ONNX ``Clip`` bounds,
            ``Resize`` scales): read through the backend's ``constant_inputs``.
        values: node attribute -> raw value -> the neutral attributes that value means
            (MXNet ``act_type="relu"``).
        defaults: neutral attributes the framework assumes when the node does not say.
        spelled: neutral attribute -> how the model file spells it, for advice (defaults to
            the ``attrs`` key).
        block: where the attributes live in the file (Caffe ``relu_param``).
    """

    fixed: Mapping[str, Any] = field(default_factory=dict)
    attrs: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    inputs: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    spelled: Mapping[str, str] = field(default_factory=dict)
    block: str = ""

    def meaning(self, raw: str, value: Any) -> dict[str, Any]:
        """What node attribute ``raw`` = ``value`` means in the neutral vocabulary."""
        found: dict[str, Any] = {}
        if raw in self.attrs:
            neutral, converter = self.attrs[raw]
            found.update(self.convert_with(neutral, converter, value))
        if raw in self.values:  # a named value's meaning wins over its plain conversion
            found.update(self.values[raw].get(_text(value).lower(), {}))
        return found

    def convert(self, spec: tuple[str, str], value: Any) -> dict[str, Any]:
        return self.convert_with(*spec, value)

    @staticmethod
    def convert_with(neutral: str, converter: str, value: Any) -> dict[str, Any]:
        try:
            return {neutral: CONVERTERS[converter](value)}
        except (TypeError, ValueError, IndexError):
            return {}

    def knows(self, neutral: str) -> bool:
        """Whether the op has a setting for ``neutral`` (else changing it means another op)."""
        named = {name for name, _ in (*self.attrs.values(), *self.inputs.values())}
        if neutral == "clip":
            named |= {"clip"} if {"clip_min", "clip_max"} & named else set()
        return neutral != "activation" and (neutral in named or neutral in self.spelled)

    def written(self, neutral: str, value: Any) -> tuple[bool, Any]:
        """``value`` in the file's own form, and whether the file can express it."""
        for name, converter in (*self.attrs.values(), *self.inputs.values()):
            if name == neutral and converter in INVERSES:
                back = INVERSES[converter](value)
                return back is not None, back
        return True, value

    def spelling(self, neutral: str) -> str:
        """The file's name for ``neutral`` (``alpha`` for ONNX LeakyRelu's slope)."""
        if neutral in self.spelled:
            return self.spelled[neutral]
        raw = [raw for raw, (name, _) in self.attrs.items() if name == neutral]
        return raw[0] if raw else neutral


Advice = Callable[[str, str, "OpWords | None", str, str, str], str]
"""``(node, scope, words, spelled, value, file) -> sentence``: how to change one attribute."""


@dataclass(frozen=True)
class Vocabulary:
    """One backend's ops in the neutral vocabulary (keyed by :func:`parity.ops.op_key`),
    how to word a change in its terms, and, where attributes may be constant inputs of a
    node (ONNX ``Clip`` bounds, ``Resize`` scales), how to read those inputs."""

    ops: Mapping[str, OpWords]
    advice: Advice | None = None
    constant_inputs: Callable[[Backend, str], list[Any]] | None = None
