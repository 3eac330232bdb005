"""Values of an ONNX node's constant inputs: initializers, ``Constant`` outputs, and small
subgraphs computed from constants only (the torch exporter's ``Pad`` pads are a
ConstantOfShape/Concat/Reshape/Slice chain), folded with the onnx reference evaluator."""

from __future__ import annotations

import contextlib
import io
import weakref
from typing import Any

import numpy as np

from ...backend import Backend

_LARGEST_FOLD = 64  # nodes: a constant subgraph larger than this is not an attribute


def constant_inputs(backend: Backend, node: str) -> list[np.ndarray | None]:
    """By position, the node's inputs that do not depend on the model's inputs."""
    folder = _FOLDERS.get(backend) or _FOLDERS.setdefault(backend, _Folder(backend))
    return folder.inputs(node)


class _Folder:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.model = model = backend.model  # type: ignore[attr-defined]
        self.values: dict[str, np.ndarray | None] = {}
        self.producer = {out: proto for proto in model.graph.node for out in proto.output}
        self.by_name = {}
        for index, proto in enumerate(model.graph.node):
            if proto.output:  # named as the onnxrt backend names nodes
                self.by_name.setdefault(
                    proto.name or proto.output[0] or f"{proto.op_type}_{index}", proto)

    def inputs(self, node: str) -> list[np.ndarray | None]:
        proto = self.by_name.get(node)
        return [] if proto is None else [self.value(name) if name else None
                                         for name in proto.input]

    def value(self, tensor: str) -> np.ndarray | None:
        if tensor not in self.values:
            known = self.backend.constant(tensor)  # type: ignore[attr-defined]
            self.values[tensor] = known if known is not None else self._fold(tensor)
        return self.values[tensor]

    def _fold(self, tensor: str) -> np.ndarray | None:
        nodes = self._constant_subgraph(tensor)
        if nodes is None:
            return None
        from onnx import helper, numpy_helper
        from onnx.reference import ReferenceEvaluator

        produced = {out for proto in nodes for out in proto.output}
        used = {name for proto in nodes for name in proto.input if name and name not in produced}
        initializers = [numpy_helper.from_array(np.asarray(self.value(name)), name)
                        for name in sorted(used)]
        graph = helper.make_graph(nodes, "fold", [], [helper.make_tensor_value_info(
            tensor, 0, None)], initializers)
        model = helper.make_model(graph, opset_imports=self.model.opset_import)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # it prints its failures
                return np.asarray(ReferenceEvaluator(model).run(None, {})[0])
        except Exception:  # an op the reference evaluator lacks: not an attribute then
            return None

    def segment(self, node: str, fed: list[str]) -> tuple[Any, dict[str, str]] | None:
        from onnx import TensorProto, helper, numpy_helper

        target = self.by_name.get(node)
        if target is None:
            return None
        tensor_of = {name: self.by_name[name].output[0] if name in self.by_name else name
                     for name in fed}
        stops = set(tensor_of.values())
        found: dict[int, Any] = {}
        constants: set[str] = set()
        pending = list(target.input)
        found[id(target)] = target
        while pending:
            name = pending.pop()
            if not name or name in stops or name in constants:
                continue
            if self.value(name) is not None:
                constants.add(name)
                continue
            proto = self.producer.get(name)
            if proto is None or len(found) > _LARGEST_FOLD:
                return None  # reads a tensor nobody fed
            if id(proto) not in found:
                found[id(proto)] = proto
                pending.extend(proto.input)
        order = {id(p): i for i, p in enumerate(self.model.graph.node)}
        nodes = sorted(found.values(), key=lambda p: order[id(p)])
        inputs = [helper.make_tensor_value_info(t, TensorProto.FLOAT, None)
                  for t in sorted(stops) if any(t in p.input for p in nodes)]
        initializers = [numpy_helper.from_array(np.asarray(self.value(name)), name)
                        for name in sorted(constants)]
        graph = helper.make_graph(nodes, "replay", inputs, [helper.make_tensor_value_info(
            target.output[0], 0, None)], initializers)
        return helper.make_model(graph, opset_imports=self.model.opset_import), tensor_of

    def _constant_subgraph(self, tensor: str) -> list[Any] | None:
        """The nodes computing ``tensor`` from constants only, in graph order."""
        found: dict[int, Any] = {}
        pending = [tensor]
        while pending:
            name = pending.pop()
            if not name or self.backend.constant(name) is not None:  # type: ignore[attr-defined]
                continue
            proto = self.producer.get(name)
            if proto is None or len(found) > _LARGEST_FOLD:
                return None  # a graph input: the value depends on the data
            if id(proto) not in found:
                found[id(proto)] = proto
                pending.extend(proto.input)
        order = {id(p): i for i, p in enumerate(self.model.graph.node)}
        return sorted(found.values(), key=lambda p: order[id(p)])


_FOLDERS: weakref.WeakKeyDictionary[Backend, _Folder] = weakref.WeakKeyDictionary()


def onnx_segment(backend: Backend, node: str, fed: list[str]) -> tuple[Any, dict[str, str]] | None:
    """A model of the ONNX nodes computing ``node`` from the outputs of the ``fed`` nodes
    (graph inputs allowed) and constants, and ``{fed node: its tensor}``; None when
    ``node`` also depends on anything else."""
    folder = _FOLDERS.get(backend) or _FOLDERS.setdefault(backend, _Folder(backend))
    return folder.segment(node, fed)
