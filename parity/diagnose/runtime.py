"""Causes in how a model ran rather than in what it computes: training mode, precision."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ops import op_class
from ..report import FAIL, Hint, PairResult
from .advice import reexport
from .codes import PRECISION, TRAIN_MODE
from .evidence import Evidence
from .weights import parameters_by_class, runs_in_training

_BATCHNORM, _DROPOUT = op_class("BatchNormalization"), op_class("Dropout")
_STATS_FIT = 1e-3  # per-channel mean within this share of |gamma| of beta: batch statistics

# Machine epsilon per dtype, and how many of them a pair's relative RMS error may reach
# (through every layer up to it) and still count as rounding.
_EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 2.0 ** -23}
_ROUNDING_EPS = {"float16": 8, "bfloat16": 8, "float32": 64}
_REDUCED = ("float16", "bfloat16")
_SIGNS = {"flagged": "its graph has the training flag baked in",
          "batch_statistics": "each channel of its output has mean beta and spread gamma",
          "was_training": "the module was saved in training mode"}


# -- training mode ------------------------------------------------------------------------


def train_mode(evidence: Evidence) -> list[Hint]:
    """A side that ran BatchNorm or Dropout as in training: baked into the trace or export
    (``training`` flags), or visible as batch statistics in a BatchNorm's output."""
    hints: dict[str, Hint] = {}
    for pair in evidence.roots:
        for side in ("a", "b"):
            found = None if side in hints else _training_layer(evidence, pair, side)
            if found is not None:
                hints[side] = _train_hint(evidence, pair, side, *found)
    return list(hints.values())


def _training_layer(evidence: Evidence, pair: PairResult,
                    side: str) -> tuple[str, dict[str, Any]] | None:
    """The root's BatchNorm/Dropout on ``side`` and the signs that it ran as in training.

    ``was_training`` (the module's flag when loaded) only supports the others: parity runs
    modules in eval mode, so the flag alone does not change what the side computed.
    """
    graph = evidence.graph(side)
    node = pair.a if side == "a" else pair.b
    layers = [n for n in evidence.chain(side, node)
              if n in graph and op_class(graph.node(n).op) in (_BATCHNORM, _DROPOUT)]
    norms = [n for n in layers if op_class(graph.node(n).op) == _BATCHNORM]
    signs = {
        "flagged": [n for n in layers if runs_in_training(graph, n)],
        "batch_statistics": bool(norms) and _batch_statistics(evidence, pair, side),
        "was_training": bool(layers) and getattr(evidence.backend(side), "was_training", False),
    }
    if not (signs["flagged"] or signs["batch_statistics"]):
        return None  # was_training alone: parity ran the module in eval mode
    return (signs["flagged"] or norms or layers)[0], signs


def _batch_statistics(evidence: Evidence, pair: PairResult, side: str) -> bool:
    """Each channel of the side's output has mean beta and spread at most |gamma|."""
    values = evidence.values(pair)
    params = parameters_by_class(evidence, side, pair.a if side == "a" else pair.b)
    norm = params.get(_BATCHNORM, {})
    if values is None or values[0].ndim < 3 or "gamma" not in norm:
        return False
    y = np.moveaxis(values[0] if side == "a" else values[1], 1, 0).astype(np.float64)
    y = y.reshape(y.shape[0], -1)
    gamma = np.abs(norm["gamma"]).ravel()
    beta = norm.get("beta", np.zeros_like(gamma)).ravel()
    if gamma.size != y.shape[0] or y.shape[1] < 2:
        return False
    mean, std = y.mean(axis=1), y.std(axis=1)
    tolerance = _STATS_FIT * (gamma + 1e-6)
    return bool(np.all(np.abs(mean - beta) <= tolerance) and np.all(std <= gamma + tolerance)
                and np.median(std / np.maximum(gamma, 1e-12)) >= 0.5)


def _train_hint(evidence: Evidence, pair: PairResult, side: str, layer: str,
                signs: dict[str, Any]) -> Hint:
    backend = evidence.backend(side)
    graph = backend.graph
    is_norm = op_class(graph.node(layer).op) == _BATCHNORM
    ran = "with batch statistics" if is_norm else "with random dropout"
    letter = side.upper()
    reason = "; ".join(text for key, text in _SIGNS.items() if signs[key])
    redo = reexport(backend.name, backend.path)
    message = (f"{letter} ran `{layer}` {ran} ({reason}): the model was in training mode when "
               f"it was exported or traced. Call model.eval() before exporting/tracing, "
               f"{redo}.")
    return Hint(TRAIN_MODE, pair.a, message, {"side": letter, "node": layer, **signs})


# -- precision ----------------------------------------------------------------------------


def precision(evidence: Evidence) -> list[Hint]:
    """Every failing pair differs only by rounding: a float16 side, or float32 error
    accumulated along the graph. Suggests the tolerance that passes them all."""
    failing = [p for p in evidence.pairs if p.failed]
    if not failing or not evidence.roots:
        return []
    dtype, side = lowest_precision(evidence)
    limit = _ROUNDING_EPS[dtype] * _EPS[dtype]
    errors = [_relative_rms(p) for p in failing]
    if any(e is None or e > limit for e in errors):
        return []
    worst = max(p.metrics.max_abs for p in failing if p.metrics is not None)
    return [_precision_hint(evidence.roots[0], dtype, side, worst,
                            max(e for e in errors if e is not None))]


def lowest_precision(evidence: Evidence) -> tuple[str, str]:
    """``(dtype, side)`` of a reduced-precision side, else ``("float32", "")``."""
    for side, backend, kept in (("A", evidence.a, evidence.values_a),
                                ("B", evidence.b, evidence.values_b)):
        dtypes = {spec.dtype for spec in backend.graph.inputs}
        dtypes |= {value.dtype.name for value in kept.values()}
        reduced = [d for d in _REDUCED if d in dtypes]
        if reduced:
            return reduced[0], side
    return "float32", ""


def _relative_rms(pair: PairResult) -> float | None:
    """RMS of the difference relative to the values' RMS (the larger of the measured one
    and the cosine's: a tensor scaled by a constant has cosine 1, yet differs); None when
    the pair failed for another reason than its values (shape, NaN, infinity)."""
    m = pair.metrics
    if pair.status != FAIL or m is None or m.nan_a + m.nan_b + m.inf_a + m.inf_b:
        return None
    angle = math.sqrt(2.0 * max(0.0, 1.0 - m.cosine))
    return max(angle, m.error) if m.scale > 0 else angle


def _precision_hint(root: PairResult, dtype: str, side: str, worst: float,
                    rms: float) -> Hint:
    atol = _round_up(worst)
    if side:
        other = "A" if side == "B" else "B"
        cause = (f"{side} computes in {dtype} where {other} uses float32: every failing pair "
                 f"differs by {dtype} rounding")
    else:
        cause = "Every failing pair differs by float32 rounding accumulated along the graph"
    message = (f"{cause} (largest difference {worst:.2g}, relative RMS error at most "
               f"{rms:.2g}, {dtype} epsilon {_EPS[dtype]:.2g}), not a conversion bug. "
               f"Compare with --atol {atol:g} (atol={atol:g} in parity.compare), which passes "
               f"every pair" + (", or run both sides in float32." if side else "."))
    return Hint(PRECISION, root.a, message,
                {"dtype": dtype, "side": side or None, "max_abs": worst,
                 "relative_rms": rms, "suggested_atol": atol})


def _round_up(value: float) -> float:
    """``value`` rounded up to one significant digit (1.67e-3 -> 2e-3)."""
    exponent = math.floor(math.log10(value))
    mantissa = math.ceil(round(value / 10.0 ** exponent, 9))
    return float(f"{mantissa}e{exponent}")
