"""The int8 term of the numerics rule: the noise rounding to a quantization grid adds.

A quantized model (a QDQ ONNX seen through :func:`parity.quantized.qdq_view`, an int8
TFLite) hands each op's output on rounded to its int8 grid, whose step the backend records
as the node's ``attrs["quant_step"]``. Rounding to a grid of step ``s`` adds an error
uniform in ``[-s/2, s/2]``: RMS ``s / sqrt(12)``, independent from element to element
(white). Per-channel int8 weights of a conv or linear, a step of ``max|w| / 127`` per
weight, add a relative RMS error of at most :data:`WEIGHT_NOISE` to its output. Those
are the dtype term of an int8 value, as ``u (sqrt(K) + ulps)`` is the float one's
(docs/numerics.md).

A quantizer that removes the ReLU or Clip after an op folds it into the op's grid: the
grid's range (``attrs["quant_range"]``) starts at the activation's lower bound, so the
Q/DQ pair clips as the activation did. The float side's value is then compared after
the clip its next op applies (:meth:`Quantization.at_folded_clip`): what it clips anyway
is no error, and values the grid saturates within the clip's range still count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from parity.backend import Backend
from parity.ops import family
from parity.quantized import RANGE, STEP, QdqView

# Relative RMS error int8 per-channel weights add to a conv or linear output: a step of
# max|w|/127 per weight, rounding noise step/sqrt(12), for weights ~3 RMS wide at most.
WEIGHT_NOISE = 3.0 / 127 / math.sqrt(12)
_WEIGHTED = frozenset({"conv", "linear"})


@dataclass
class Quantization:
    """Each side's quantization steps (nodes and graph inputs) and the models' weights."""

    a: Backend
    b: Backend
    steps_a: dict[str, float]
    steps_b: dict[str, float]
    _gains: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, a: Backend, b: Backend) -> Quantization | None:
        """The quantization of a comparison, None when neither side is quantized."""
        steps_a, steps_b = _steps(a), _steps(b)
        return cls(a, b, steps_a, steps_b) if steps_a or steps_b else None

    def steps(self, name_a: str, name_b: str) -> tuple[float, float]:
        """The grid step of the pair's value on each side (0 where it is float)."""
        return self.steps_a.get(name_a, 0.0), self.steps_b.get(name_b, 0.0)

    def local(self, name_a: str, name_b: str, scale: float) -> float:
        """Relative RMS noise the pair's own quantization adds: its output rounded to
        each side's grid, and a quantized side's weights."""
        if scale <= 0:
            return 0.0
        noise = 0.0
        for backend, name, step in ((self.a, name_a, self.steps_a.get(name_a, 0.0)),
                                    (self.b, name_b, self.steps_b.get(name_b, 0.0))):
            if not step:
                continue
            noise += step / math.sqrt(12) / scale
            if name in backend.graph and \
                    family(backend.graph.node(name).op) in _WEIGHTED:
                noise += WEIGHT_NOISE
        return noise

    def white_gain(self, name_a: str, name_b: str) -> float:
        """The pair's gain on white noise (as rounding to a grid is): for a conv or
        linear the mean over its outputs of the sum of its squared weights, else 0."""
        if name_a not in self._gains:
            self._gains[name_a] = max(_weight_gain(self.a, name_a),
                                      _weight_gain(self.b, name_b))
        return self._gains[name_a]


    def at_folded_clip(self, name_a: str, name_b: str, va: np.ndarray, vb: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, str]:
        """The pair's values with the float side's clip applied where the quantized
        side's grid stands for it, and ``+clip`` then (else the values as they are)."""
        bounds = _folded_clip(self.a, name_a, self.b, name_b)
        if bounds is not None:
            return np.clip(va, *bounds).astype(va.dtype, copy=False), vb, "+clip"
        bounds = _folded_clip(self.b, name_b, self.a, name_a)
        if bounds is not None:
            return va, np.clip(vb, *bounds).astype(vb.dtype, copy=False), "+clip"
        return va, vb, ""


def _folded_clip(plain: Backend, name: str, quantized: Backend, partner: str
                 ) -> tuple[float, float] | None:
    """The bounds of the clip (ReLU, ReLU6, Clip) that is the only reader of ``name`` on
    the ``plain`` side, when ``partner``'s grid on the ``quantized`` side holds no value
    outside them (to a step): the grid clips there in the activation's place."""
    if partner not in quantized.graph or name not in plain.graph:
        return None
    attrs = quantized.graph.node(partner).attrs
    if RANGE not in attrs or plain.graph.node(name).attrs.get(RANGE):
        return None
    readers = plain.graph.consumers.get(name, ())
    if len(readers) != 1 or family(plain.graph.node(readers[0]).op) != "relu":
        return None
    # imported here: parity.diagnose imports parity.report, which imports this module
    from parity.diagnose.vocabulary import describe

    meaning = describe(plain, readers[0])
    if meaning.get("activation") != "clip" or "clip" not in meaning:
        return None
    low, high = meaning["clip"]
    step = float(attrs.get(STEP, 0.0))
    grid_low, grid_high = attrs[RANGE]
    if grid_low < low - step or grid_high > high + step:
        return None
    return float(low), float(high)


def _steps(backend: Backend) -> dict[str, float]:
    """Step of every quantized value of ``backend``: node outputs and graph inputs."""
    steps = {n.name: float(n.attrs[STEP]) for n in backend.graph if n.attrs.get(STEP)}
    if isinstance(backend, QdqView):
        steps.update(_input_steps(backend, backend.graph.input_names))
    return steps


def _input_steps(view: QdqView, names: Iterable[str]) -> dict[str, float]:
    found = {name: view.input_step(name) for name in names}
    return {name: step for name, step in found.items() if step}


def _weight_gain(backend: Backend, name: str) -> float:
    graph = backend.graph
    if name not in graph or family(graph.node(name).op) not in _WEIGHTED:
        return 0.0
    weight = backend.parameters(name).get("weight")
    if weight is None or weight.ndim < 2:
        return 0.0
    flat = np.asarray(weight, np.float64).reshape(len(weight), -1)
    return float(np.mean(np.sum(np.square(flat), axis=1)))
