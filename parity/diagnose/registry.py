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
    attention.attention_softmax_axis,
    attention.attention_operands,
    flatten.flatten_order,
    concat.concat_order,
    weights.weights_differ,
    runtime.train_mode,
    saturation.quant_saturation,
    overflow.float_overflow,
    runtime.precision,
)


def diagnose(evidence: Evidence) -> tuple[Hint, ...]:
    """Every check's hints, each node reported once per code (rounding only where no cause
    is named at the same layer), then the first divergence replayed alone (unless the error
    is rounding or a float16 overflow, where a replay in another engine's arithmetic proves
    nothing)."""
    hints: dict[tuple[str, str], Hint] = {}
    for check in CHECKS:
        for hint in check(evidence):
            hints.setdefault((hint.code, hint.node), hint)
    found = _without_contradicted_rounding(list(hints.values()))
    if any(h.code in _NOT_REPLAYED for h in found):
        return tuple(found)
    return tuple(replay.annotate(evidence, found))


def _without_contradicted_rounding(hints: list[Hint]) -> list[Hint]:
    """``precision`` says the error is rounding, not a conversion bug: not where another
    check names the bug at the same layer (an RMSNorm eps of 1e-5 for 1e-6 moves T5's
    output by float32-rounding amounts)."""
    named = {h.node for h in hints if h.code != PRECISION}
    return [h for h in hints if h.code != PRECISION or h.node not in named]
