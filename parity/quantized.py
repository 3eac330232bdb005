"""Quantized ONNX models (QDQ format) seen through their QuantizeLinear/DequantizeLinear pairs.

onnxruntime's quantizer (``quantize_static(..., quant_format=QuantFormat.QDQ)``) writes a
float graph in which every activation goes through ``QuantizeLinear -> DequantizeLinear``
and every weight comes out of a ``DequantizeLinear`` of an int8 initializer. Compared
with its float source, the pairs are noise in the alignment: the view hides them, gives
each op the value its pair hands the next op (the op's output rounded to the int8 grid),
and records that grid's step as the node's ``attrs["quant_step"]`` so a tolerance can
tell quantization noise from a bug (see :func:`quantization_noise`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .backend import Backend
from .graph import Graph
from .metrics import squeeze_to_common
from .ops import family
from .report import FAIL, OK, PairResult

QUANTIZE, DEQUANTIZE = "QuantizeLinear", "DequantizeLinear"
STEP = "quant_step"


@dataclass(frozen=True)
class _Plan:
    graph: Graph
    source: Mapping[str, str]  # node of the view -> node of the model holding its value
    input_steps: Mapping[str, float]


class QdqView(Backend):
    """A QDQ model as its float ops, each holding the value its Q/DQ pair hands on."""

    def __init__(self, inner: Backend, plan: _Plan) -> None:
        super().__init__(inner.path, inner.weights, **inner.options)
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]  # the runtime keeps its name
        self.extra = inner.extra  # type: ignore[misc]
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        """What the adapter has beyond the Backend interface (its ONNX ``model``...)."""
        if name.startswith("__") or name in ("inner", "_plan"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _load_graph(self) -> Graph:
        return self._plan.graph

    def input_step(self, name: str) -> float | None:
        """The quantization step of a graph input, None for one fed unquantized."""
        return self._plan.input_steps.get(name)

    def _stream(self, feeds: Mapping[str, np.ndarray], fetch: list[str]
                ) -> Iterator[tuple[str, Any]]:
        wanted = {self._plan.source[name]: name for name in fetch}
        for source, value in self.inner.stream(feeds, list(wanted)):
            yield wanted[source], value

    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> Mapping[str, Any]:
        return dict(self._stream(feeds, fetch))

    def parameters(self, node: str) -> dict[str, np.ndarray]:
        return self.inner.parameters(node)

    def declared_preprocessing(self) -> dict[str, dict[str, Any]]:
        return self.inner.declared_preprocessing()

    def close(self) -> None:
        self.inner.close()


def qdq_view(backend: Backend) -> Backend:
    """``backend`` seen through its Q/DQ pairs when it runs a QDQ ONNX model, else itself."""
    graph = backend.graph
    if backend.path.suffix.lower() != ".onnx" or not any(n.op == QUANTIZE for n in graph):
        return backend
    return QdqView(backend, _plan(graph, _scales(backend.path)))


def _plan(graph: Graph, scales: Mapping[str, float]) -> _Plan:
    """Hide Q/DQ pairs and weight DQs; an op's value is fetched from its pair's DQ."""
    consumers = graph.consumers
    hidden: set[str] = set()
    stands_for: dict[str, str] = {}  # hidden DQ -> the op (or input) it rounds
    source: dict[str, str] = {}
    steps: dict[str, float] = {}
    for node in graph:
        if node.op == DEQUANTIZE and not node.inputs:  # a weight or bias
            hidden.add(node.name)
        if node.op != QUANTIZE or len(node.inputs) != 1:
            continue
        rounded = stands_for.get(node.inputs[0], node.inputs[0])
        dequantize = [c for c in consumers.get(node.name, ())
                      if graph.node(c).op == DEQUANTIZE]
        if len(dequantize) != len(consumers.get(node.name, ())):
            continue  # a Q read by anything but its DQ: keep it visible
        hidden.add(node.name)
        for dq in dequantize:
            hidden.add(dq)
            stands_for[dq] = rounded
        if dequantize:
            source.setdefault(rounded, dequantize[0])
        if node.name in scales:
            steps.setdefault(rounded, scales[node.name])
    nodes = []
    for node in graph:
        if node.name in hidden:
            continue
        reads = tuple(dict.fromkeys(stands_for.get(i, i) for i in node.inputs
                                    if i not in hidden or i in stands_for))
        attrs = {**node.attrs, STEP: steps[node.name]} if node.name in steps else node.attrs
        nodes.append(replace(node, inputs=reads, attrs=attrs))
        source.setdefault(node.name, node.name)
    outputs = tuple(stands_for.get(o, o) for o in graph.outputs)
    view = Graph(tuple(nodes), graph.inputs, outputs, graph.source)
    input_steps = {name: steps[name] for name in graph.input_names if name in steps}
    return _Plan(view, source, input_steps)


def _scales(path: Path) -> dict[str, float]:
    """QuantizeLinear node name -> its (largest) scale, read from the ONNX file."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    constants = {init.name: init for init in model.graph.initializer}
    found = {}
    for index, node in enumerate(model.graph.node):
        if node.op_type != QUANTIZE or len(node.input) < 2 or node.input[1] not in constants:
            continue
        scale = numpy_helper.to_array(constants[node.input[1]])
        found[node.name or node.output[0] or f"{node.op_type}_{index}"] = float(np.max(scale))
    return found


def quantization_noise(graph: Graph, name: str) -> float:
    """Half the quantization step of node ``name``'s output: the largest error rounding to
    its int8 grid adds per element (0 for a float node)."""
    if name not in graph:
        return 0.0
    return 0.5 * float(graph.node(name).attrs.get(STEP, 0.0))


# -- judging a quantized side ----------------------------------------------------------------

QUANT_SLACK = 2.0
# Relative RMS error int8 per-channel weights add to a conv or linear output: a step of
# max|w|/127 per weight, rounding noise step/sqrt(12), for weights ~3 RMS wide at most.
WEIGHT_NOISE = 3.0 / 127 / math.sqrt(12)
_WEIGHTED = frozenset({"conv", "linear"})


@dataclass(frozen=True)
class _Judged:
    error: float  # RMS of a - b
    bound: float  # RMS error its quantization could explain
    scale: float  # RMS of the reference (a)


class QuantizationBound:
    """Judges the pairs of a float model against its quantized version.

    A pair passes when its RMS error is within what quantization explains: the rounding
    of its own output to the int8 grid (``step / sqrt(12)``), the rounding of its
    weights, and the error its inputs carried, each input's counted only up to its own
    bound and taken through the layer's gain (the reference's RMS out over in). The
    bound grows along the graph as the noise does; the first layer whose error exceeds it
    is where quantization stops explaining the difference. The estimate is taken twice
    (:data:`QUANT_SLACK`): on the test models a correct int8 model stays under a third of
    its bound, a weight scale off by 10% exceeds it at its layer.
    """

    def __init__(self, a: Backend, b: Backend, matched: Iterable[str]) -> None:
        self.a, self.b = a, b
        self.nearest = a.graph.nearest(set(matched))
        self.judged: dict[str, _Judged] = {}

    @classmethod
    def needed(cls, a: Backend, b: Backend, matched: Iterable[str]) -> QuantizationBound | None:
        """A judge when either side is quantized, else None."""
        quantized = any(STEP in n.attrs for side in (a, b) for n in side.graph)
        return cls(a, b, matched) if quantized else None

    def judge(self, result: PairResult, va: np.ndarray, vb: np.ndarray) -> PairResult:
        """``result``, passed (``+quant``) when quantization explains its error."""
        common = squeeze_to_common(va, vb)
        if common is None:
            return result
        ref, other = (np.asarray(x, np.float64) for x in common)
        error, scale = _rms(ref - other), _rms(ref)
        bound = QUANT_SLACK * (math.sqrt(self._carried(result.a, scale)) + self._local(result,
                                                                                     scale))
        self.judged[result.a] = _Judged(error, bound, scale)
        finite = bool(np.isfinite(other).all() and np.isfinite(ref).all())
        if result.status == FAIL and finite and error <= bound:
            return replace(result, status=OK, how=f"{result.how}+quant", channel_max_abs=None)
        return result

    def _local(self, result: PairResult, scale: float) -> float:
        """Noise this pair's own quantization adds: output rounding and weights."""
        noise = 0.0
        for backend, name in ((self.a, result.a), (self.b, result.b)):
            graph = backend.graph
            if name not in graph:
                continue
            node = graph.node(name)
            step = float(node.attrs.get(STEP, 0.0))
            noise += step / math.sqrt(12)
            if step and family(node.op) in _WEIGHTED:
                noise += WEIGHT_NOISE * scale
        return noise

    def _carried(self, name: str, scale: float) -> float:
        """Mean square error the compared inputs hand this pair, through its gain."""
        upstream = self.nearest.get(name, ())
        squares, references = [], []
        for up in upstream:
            if up in self.judged:  # a failed input hands on only the noise it could have had
                seen = self.judged[up]
                squares.append(min(seen.error, seen.bound / QUANT_SLACK) ** 2)
                references.append(seen.scale ** 2)
            step = self._input_step(up)
            if step:
                squares.append(step ** 2 / 12)
        if not squares:
            return 0.0
        reference = sum(references) / len(references) if references else 0.0
        gain = scale ** 2 / reference if reference > 0 else 1.0
        return max(gain, self._weight_gain(name), 1.0) * sum(squares)

    def _weight_gain(self, name: str) -> float:
        """A conv's or linear's gain on white input noise: the mean over its outputs of
        the sum of squared weights (the float side's weights)."""
        weight = self.a.parameters(name).get("weight") if name in self.a.graph else None
        if weight is None or weight.ndim < 2:
            return 0.0
        return float(np.mean(np.sum(np.square(weight.reshape(len(weight), -1)), axis=1)))

    def _input_step(self, name: str) -> float:
        steps = [b.input_step(name) for b in (self.a, self.b) if isinstance(b, QdqView)]
        return max((s for s in steps if s), default=0.0)


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values)))) if values.size else 0.0
