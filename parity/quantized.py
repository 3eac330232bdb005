"""Quantized ONNX models (QDQ format) seen through their QuantizeLinear/DequantizeLinear pairs.

onnxruntime's quantizer (``quantize_static(..., quant_format=QuantFormat.QDQ)``) writes a
float graph in which every activation goes through ``QuantizeLinear -> DequantizeLinear``
and every weight comes out of a ``DequantizeLinear`` of an int8 initializer. Compared
with its float source, the pairs are noise in the alignment: the view hides them, gives
each op the value its pair hands the next op (the op's output rounded to the int8 grid),
and records that grid's step as the node's ``attrs["quant_step"]``: the numerics rule
holds each such value to the noise rounding to that grid adds
(:mod:`parity.verdict.quantization`). The values the grid can hold,
``attrs["quant_range"] = (low, high)``, are the ends the pair clips to: the quantizer
narrows them to a ReLU or Clip it removes after the op (it folds the activation into the
range).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .backend import Backend
from .graph import Graph

QUANTIZE, DEQUANTIZE = "QuantizeLinear", "DequantizeLinear"
STEP = "quant_step"
RANGE = "quant_range"


@dataclass(frozen=True)
class Grid:
    """A QuantizeLinear's grid: its (largest) step and the lowest and highest values it
    holds, ``(qmin - zero_point) * step`` and ``(qmax - zero_point) * step``."""

    step: float
    low: float
    high: float


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

    def release_after_next_run(self) -> None:
        self.inner.release_after_next_run()

    def close(self) -> None:
        self.inner.close()


def qdq_view(backend: Backend) -> Backend:
    """``backend`` seen through its Q/DQ pairs when it runs a QDQ ONNX model, else itself."""
    graph = backend.graph
    if backend.path.suffix.lower() != ".onnx" or not any(n.op == QUANTIZE for n in graph):
        return backend
    return QdqView(backend, _plan(graph, _grids(backend.path)))


def _plan(graph: Graph, grids: Mapping[str, Grid]) -> _Plan:
    """Hide Q/DQ pairs and weight DQs; an op's value is fetched from its pair's DQ."""
    consumers = graph.consumers
    hidden: set[str] = set()
    stands_for: dict[str, str] = {}  # hidden DQ -> the op (or input) it rounds
    source: dict[str, str] = {}
    steps: dict[str, Grid] = {}
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
        if node.name in grids:
            steps.setdefault(rounded, grids[node.name])
    nodes = []
    for node in graph:
        if node.name in hidden:
            continue
        reads = tuple(dict.fromkeys(stands_for.get(i, i) for i in node.inputs
                                    if i not in hidden or i in stands_for))
        grid = steps.get(node.name)
        attrs = node.attrs if grid is None else {
            **node.attrs, STEP: grid.step, RANGE: (grid.low, grid.high)}
        nodes.append(replace(node, inputs=reads, attrs=attrs))
        source.setdefault(node.name, node.name)
    outputs = tuple(stands_for.get(o, o) for o in graph.outputs)
    view = Graph(tuple(nodes), graph.inputs, outputs, graph.source)
    input_steps = {name: steps[name].step for name in graph.input_names if name in steps}
    return _Plan(view, source, input_steps)


def _grids(path: Path) -> dict[str, Grid]:
    """QuantizeLinear node name -> its grid, read from the ONNX file (a missing zero point
    is uint8 0, as the operator's spec says)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    constants = {init.name: init for init in model.graph.initializer}
    found = {}
    for index, node in enumerate(model.graph.node):
        if node.op_type != QUANTIZE or len(node.input) < 2 or node.input[1] not in constants:
            continue
        scale = numpy_helper.to_array(constants[node.input[1]]).astype(np.float64)
        zero = (numpy_helper.to_array(constants[node.input[2]])
                if len(node.input) > 2 and node.input[2] in constants else np.zeros(1, np.uint8))
        limits = np.iinfo(zero.dtype) if zero.dtype.kind in "iu" else None
        low, high = ((float(np.min((limits.min - zero.astype(np.float64)) * scale)),
                      float(np.max((limits.max - zero.astype(np.float64)) * scale)))
                     if limits is not None else (-np.inf, np.inf))
        found[node.name or node.output[0] or f"{node.op_type}_{index}"] = Grid(
            float(np.max(scale)), low, high)
    return found


def quantization_noise(graph: Graph, name: str) -> float:
    """Half the quantization step of node ``name``'s output: the largest error rounding to
    its int8 grid adds per element (0 for a float node)."""
    if name not in graph:
        return 0.0
    return 0.5 * float(graph.node(name).attrs.get(STEP, 0.0))
