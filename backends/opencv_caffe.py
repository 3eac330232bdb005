"""Caffe adapter run by OpenCV DNN: ``.prototxt`` structure + ``.caffemodel`` weights.

What this relies on (checked against OpenCV 4.11, see tests/test_caffe_backend.py):

* layer parameters (BatchNorm ``eps``, pooling rounding, ...) come from the prototxt;
  the caffemodel only supplies blobs, matched to layers by name. Two prototxts that
  differ in ``eps`` can share one caffemodel and really compute different things.
* with fusion off, every layer keeps its own output, in-place ones included: for
  ``BatchNorm`` -> ``Scale`` -> ``ReLU`` on one blob, fetching ``bn`` gives the normalised
  values and ``relu`` the activations. The graph (from :mod:`parity.prototxt`) names
  nodes by layer, so a name fetches that layer's own output.
* OpenCV DNN names some layers after their top blob instead of their ``name`` (a
  Convolution named ``conv1`` with ``top: "blob1"``, as pytorch2caffe writes every layer,
  is OpenCV's layer ``blob1``); parity keeps the prototxt's names and looks each layer up
  under the name OpenCV gave it.
* Winograd convolution is switched off: it is off by about 1e-4 from the exact result.
* OpenCV's protobuf schema has no BVLC ``round_mode`` (it has its own ``ceil_mode``
  under the same field number) and misreads the pooling layer when it meets one, so
  ``round_mode`` is rewritten to ``ceil_mode`` before OpenCV sees the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from parity.backend import Backend
from parity.errors import ModelLoadError
from parity.graph import Graph, Node
from parity.prototxt import build_graph, input_transform, layers, parse_prototxt

_ROUND_MODE = re.compile(r"\bround_mode\s*:\s*(CEIL|FLOOR|0|1)\b")


class CaffeBackend(Backend):
    """Runs a Caffe ``.prototxt`` + ``.caffemodel`` with OpenCV DNN on the CPU."""

    name = "caffe"
    extra = "caffe"

    def __init__(self, path: Path, weights: Path | None = None, **options: Any) -> None:
        super().__init__(path, weights, **options)
        self.prototxt, self.weights = find_files(self.path, weights)
        text = _read_text(self.prototxt)
        parsed = parse_prototxt(text, self.prototxt)
        self._structure = build_graph(parsed, self.prototxt)
        self.transform = input_transform(parsed)
        self._text = text
        self.net = _read_net(self.prototxt, text, self.weights)
        self._opencv = opencv_names(self.net, parsed, self._structure)
        _check_blobs(self.net, self._structure, self.weights, self._opencv)

    @property
    def net(self) -> cv2.dnn.Net:
        """The OpenCV network, read again after :meth:`release`."""
        if self._net is None:
            self._net = _read_net(self.prototxt, self._text, self.weights)
        return self._net

    @net.setter
    def net(self, net: cv2.dnn.Net) -> None:
        self._net: cv2.dnn.Net | None = net

    def release(self) -> None:
        """Drop the network (its weights and every layer's output blob); whatever uses it
        next (a run, :meth:`parameters`) reads it again."""
        self._net = None

    def _load_graph(self) -> Graph:
        shapes = self._layer_shapes()
        nodes = tuple(
            Node(n.name, n.op, n.inputs, n.attrs, shapes.get(n.name), n.scope)
            for n in self._structure.nodes
        )
        structure = self._structure
        return Graph(nodes, structure.inputs, structure.outputs, structure.source)

    def _layer_shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shape of every layer, when all input shapes are known."""
        shapes = [spec.shape for spec in self._structure.inputs]
        if not shapes or any(s is None or None in s for s in shapes):
            return {}
        try:
            with quiet_opencv():
                ids, _, outs = self.net.getLayersShapes([list(s) for s in shapes])
        except cv2.error as exc:
            raise ModelLoadError(self.prototxt, "OpenCV cannot infer shapes "
                                                f"({opencv_message(exc)})") from None
        by_id = {int(i): tuple(int(d) for d in out[0]) for i, out in zip(ids.ravel(), outs)}
        return {name: by_id[self.net.getLayerId(self._opencv.get(name, name))]
                for name in (n.name for n in self._structure.nodes)
                if self.net.getLayerId(self._opencv.get(name, name)) in by_id}

    def declared_preprocessing(self) -> dict[str, dict[str, Any]]:
        """Mean and scale from the input layers' ``transform_param``."""
        return {name: dict(spec) for name, spec in self.transform.items()}

    def parameters(self, node: str) -> dict[str, np.ndarray]:
        """The layer's blobs as OpenCV loaded them, keyed as :meth:`Backend.parameters`.

        BatchNorm statistics are divided by Caffe's stored scale factor.
        """
        keys = _BLOB_KEYS.get(self.graph.node(node).op, ())
        found = {}
        for index, key in enumerate(keys):
            try:
                blob = self.net.getParam(self._opencv.get(node, node), index)
            except cv2.error:
                break
            if blob is None or blob.size == 0:
                break
            array = np.asarray(blob, dtype=np.float64)
            found[key] = array if key == "weight" else array.ravel()
        factor = found.pop("scale_factor", None)
        if factor is not None and "mean" in found:
            scale = 0.0 if float(factor.ravel()[0]) == 0 else 1.0 / float(factor.ravel()[0])
            found["mean"], found["var"] = found["mean"] * scale, found["var"] * scale
        return found

    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> dict[str, Any]:
        for spec in self.graph.inputs:
            self.net.setInput(np.ascontiguousarray(feeds[spec.name], dtype=np.float32), spec.name)
        try:
            with quiet_opencv():
                outputs = self.net.forward([self._opencv.get(name, name) for name in fetch])
        except cv2.error as exc:
            raise ModelLoadError(self.prototxt, f"OpenCV cannot run it ({opencv_message(exc)})"
                                 ) from None
        return dict(zip(fetch, outputs))


_BLOB_KEYS = {
    "Convolution": ("weight", "bias"), "Deconvolution": ("weight", "bias"),
    "InnerProduct": ("weight", "bias"), "BatchNorm": ("mean", "var", "scale_factor"),
    "Scale": ("gamma", "beta"), "PReLU": ("slope",), "Bias": ("beta",),
}


def find_files(path: Path, weights: Path | None) -> tuple[Path, Path]:
    """``(prototxt, caffemodel)`` for a model path and an optional explicit weights file.

    Weights: the explicit file; else ``<stem>.caffemodel``; else the only ``.caffemodel``
    in the folder. A ``.caffemodel`` given as the model finds ``<stem>.prototxt``.
    """
    path = Path(path)
    if path.suffix.lower() == ".caffemodel":
        prototxt = path.with_suffix(".prototxt")
        if not prototxt.is_file():
            raise ModelLoadError(path, f"no prototxt for these weights: looked for {prototxt.name}")
        return prototxt, Path(weights) if weights else path
    if weights is not None:
        if not Path(weights).is_file():
            raise ModelLoadError(weights, "weights file not found")
        return path, Path(weights)
    same_stem = path.with_suffix(".caffemodel")
    if same_stem.is_file():
        return path, same_stem
    found = sorted(path.parent.glob("*.caffemodel"))
    if len(found) == 1:
        return path, found[0]
    looked = f"{same_stem.name} or a single .caffemodel in {path.parent}"
    extra = f" (found {len(found)})" if found else ""
    raise ModelLoadError(path, f"no weights: looked for {looked}{extra}; pass --weights")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(path, f"cannot read prototxt ({exc})") from None


def opencv_text(text: str) -> str:
    """The prototxt as OpenCV reads it: BVLC ``round_mode`` becomes OpenCV's ``ceil_mode``."""
    return _ROUND_MODE.sub(
        lambda m: f"ceil_mode: {'true' if m[1] in ('CEIL', '0') else 'false'}", text
    )


def _read_net(prototxt: Path, text: str, caffemodel: Path) -> cv2.dnn.Net:
    """Load with OpenCV, fusion and Winograd off, on the plain CPU backend."""
    try:
        with quiet_opencv():
            net = cv2.dnn.readNetFromCaffe(
                np.frombuffer(opencv_text(text).encode("utf-8"), np.uint8),
                np.fromfile(caffemodel, np.uint8),
            )
    except cv2.error as exc:
        reason = opencv_message(exc)
        if "FromBinary" in reason:  # the text parsed (parity read it first): the weights did not
            raise ModelLoadError(caffemodel, f"not a readable Caffe weights file ({reason})"
                                 ) from None
        raise ModelLoadError(prototxt, f"OpenCV cannot load it with {caffemodel.name} "
                                       f"({reason})") from None
    return exact_cpu(net)


def exact_cpu(net: cv2.dnn.Net) -> cv2.dnn.Net:
    """``net`` set to run every layer on its own (fusion and Winograd off), plain CPU."""
    net.enableFusion(False)
    net.enableWinograd(False)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return net


# Layer types whose computation needs blobs from the caffemodel.
_NEEDS_BLOBS = frozenset({"Convolution", "Deconvolution", "InnerProduct", "BatchNorm", "PReLU"})
_OPENCV_PREFIX = re.compile(r"OpenCV\([^)]*\) \S+: error: \(-?\d+:[^)]*\) ")
_IN_FUNCTION = re.compile(r"\s*in function '[^']*'\s*")
_ONNX_NODE = re.compile(r"> Node \[(?P<op>[^@\]]+)[^\]]*\]:\(onnx_node!(?P<name>[^)]*)\) "
                        r"parse error: ")
_MAT_TYPE = re.compile(r"(?P<label>[Tt]ype:? )(?P<depth>[0-6])\b")
_DEPTHS = ("uint8", "int8", "uint16", "int16", "int32", "float32", "float64")
_LOG_SILENT = 0


def opencv_names(net: cv2.dnn.Net, parsed: Any, structure: Graph) -> dict[str, str]:
    """The name OpenCV DNN gave each layer: its own, else its first top's."""
    known = set(net.getLayerNames())
    layer_tops = {layer.text("name"): layer.texts("top") for layer in layers(parsed)}
    names = {}
    for node in structure.nodes:
        tops = layer_tops.get(node.name, [])
        if node.name not in known and tops and tops[0] in known:
            names[node.name] = tops[0]
    return names


def _check_blobs(net: cv2.dnn.Net, structure: Graph, caffemodel: Path,
                 opencv: Mapping[str, str]) -> None:
    """Every layer that needs weights got some: else the caffemodel is not this net's."""
    for node in structure.nodes:
        if node.op not in _NEEDS_BLOBS:
            continue
        try:
            found = net.getParam(opencv.get(node.name, node.name), 0) is not None
        except cv2.error:
            found = False
        if not found:
            raise ModelLoadError(caffemodel, f"has no weights for layer {node.name!r} "
                                             f"({node.op}): is it the caffemodel of this prototxt?")


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """Keep OpenCV's C++ log lines off stderr: its errors reach the user as exceptions."""
    level = cv2.getLogLevel()
    cv2.setLogLevel(_LOG_SILENT)
    try:
        yield
    finally:
        cv2.setLogLevel(level)


def opencv_message(exc: Exception) -> str:
    """OpenCV's message on one line, without its ``OpenCV(4.x) file.cpp:123: error: (-2:...)``
    prefixes and ``in function '...'`` trails; the ONNX importer's ``Node [Op@domain]:
    (onnx_node!name) parse error:`` as ``node name (Op):``, matrix depth codes named."""
    text = _IN_FUNCTION.sub(" ", _OPENCV_PREFIX.sub("", str(exc)))
    text = _ONNX_NODE.sub(lambda m: f"node {m['name']} ({m['op']}): ", text)
    text = _MAT_TYPE.sub(lambda m: f"{m['label']}{m['depth']} ({_DEPTHS[int(m['depth'])]})",
                         text)
    return " ".join(text.replace("\n>", " ").strip(" >").split())
