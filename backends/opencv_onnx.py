"""OpenCV DNN on ONNX: ``cv2.dnn.readNetFromONNX``, for "right in ONNX Runtime, wrong in
OpenCV".

The graph is the ONNX Runtime adapter's (same node names and attributes), kept to the
nodes OpenCV runs as layers of their own: OpenCV names a node's layer ``onnx_node!<name>``
(a graph output's after the output), and folds constant subgraphs (``Shape``, ``Gather``
of constants...) at import, leaving no layer to fetch; a consumer of a folded node reads
that node's own sources. Fusion and Winograd are off, as for Caffe, so each layer keeps
its own output; one ``net.forward`` yields every requested layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from parity.backends.onnxrt import OnnxRuntimeBackend, load_model
from parity.backends.opencv_caffe import exact_cpu, opencv_message, quiet_opencv
from parity.errors import ModelLoadError
from parity.graph import Graph, Node

_LAYER_PREFIX = "onnx_node!"


class OpenCvOnnxBackend(OnnxRuntimeBackend):
    """Runs ``.onnx`` files with OpenCV DNN on the CPU."""

    name = "opencv"
    extra = "caffe"

    def __init__(self, path: Path, weights: Path | None = None, **options: Any) -> None:
        super().__init__(path, weights, **options)
        try:
            with quiet_opencv():
                full = load_model(self.path).SerializeToString()  # with its weights
                net = cv2.dnn.readNetFromONNX(np.frombuffer(full, np.uint8))
        except cv2.error as exc:
            raise ModelLoadError(self.path, f"OpenCV DNN cannot load it "
                                            f"({opencv_message(exc)})") from None
        self.net = exact_cpu(net)

    @cached_property
    def _layers(self) -> dict[str, str]:
        """Node name -> the OpenCV layer computing its output, for nodes that have one."""
        layers = set(self.net.getLayerNames())
        found = {}
        for name, proto in self._protos.items():
            for candidate in (_LAYER_PREFIX + name, proto.output[0]):
                if candidate in layers:
                    found[name] = candidate
                    break
        return found

    def _load_graph(self) -> Graph:
        full = super()._load_graph()
        kept = [node for node in full.nodes if node.name in self._layers]
        sources: dict[str, tuple[str, ...]] = {spec.name: (spec.name,) for spec in full.inputs}
        for node in full.nodes:  # a folded node stands for what it reads
            reads = tuple(dict.fromkeys(s for parent in node.inputs
                                        for s in sources.get(parent, ())))
            sources[node.name] = (node.name,) if node.name in self._layers else reads
        nodes = tuple(Node(n.name, n.op, tuple(dict.fromkeys(
            s for parent in n.inputs for s in sources.get(parent, ()))), n.attrs, n.shape,
            n.scope) for n in kept)
        outputs = tuple(dict.fromkeys(s for o in full.outputs for s in sources.get(o, ())))
        return Graph(nodes, full.inputs, outputs, full.source)

    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> dict[str, Any]:
        for spec in self.graph.inputs:
            self.net.setInput(np.ascontiguousarray(feeds[spec.name], dtype=np.float32), spec.name)
        try:
            with quiet_opencv():
                outputs = self.net.forward([self._layers[name] for name in fetch])
        except cv2.error as exc:
            raise ModelLoadError(self.path, f"OpenCV DNN cannot run it "
                                            f"({opencv_message(exc)})") from None
        return dict(zip(fetch, outputs))

    def close(self) -> None:
        super().close()
        self.net = None
