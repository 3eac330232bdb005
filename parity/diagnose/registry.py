"""The checks, in the order their hints are listed."""

from __future__ import annotations

from collections.abc import Callable

from ..report import Hint
from . import (
    attention,
    attributes,
    concat,
    constants,
    flatten,
    folded,
    inputs,
    overflow,
    replay,
    runtime,
    saturation,
    settings,
    weights,
)
from .codes import FLOAT_OVERFLOW, PRECISION
from .evidence import Evidence

_NOT_REPLAYED = (PRECISION, FLOAT_OVERFLOW)

Check = Callable[[Evidence], list[Hint]]

CHECKS: tuple[Check, ...] = (
    inputs.channel_order,
    inputs.input_normalization,
    inputs.layout,
    attributes.bn_eps_mismatch,
    folded.folded_batchnorm,
    attributes.pool_ceil_mode,
    settings.attribute_mismatch,
    constants.constant_differs,
    attention.attention_scale,
    flatten.flatten_order,
    concat.concat_order,
    weights.weights_differ,
    runtime.train_mode,
    saturation.quant_saturation,
    overflow.float_overflow,
    runtime.precision,
)


def diagnose(evidence: Evidence) -> tuple[Hint, ...]:
    """Every check's hints, each node reported once per code, then the first divergence
    replayed alone (unless the error is rounding or a float16 overflow, where a replay in
    another engine's arithmetic proves nothing)."""
    hints: dict[tuple[str, str], Hint] = {}
    for check in CHECKS:
        for hint in check(evidence):
            hints.setdefault((hint.code, hint.node), hint)
    found = list(hints.values())
    if any(h.code in _NOT_REPLAYED for h in found):
        return tuple(found)
    return tuple(replay.annotate(evidence, found))
