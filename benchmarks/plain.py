"""Each framework's own normal inference call, outputs only: the baseline parity is held to.

Every function loads the model the way a user of that framework would (default
options) and returns a zero-argument callable running one forward pass to the outputs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from parity.backend import Backend

Forward = Callable[[], Any]


def plain_forward(backend: Backend, feeds: Mapping[str, np.ndarray], *, basic: bool = False
                  ) -> Forward:
    """The plain forward of the model ``backend`` opened.

    ``basic``: without the graph rewrites parity's capture turns off (ONNX Runtime at
    ``ORT_ENABLE_BASIC``, OpenCV without layer fusion and Winograd).
    """
    if backend.name == "pytorch":
        factory = backend.options.get("factory")
        if factory:
            return torch_eager(load_factory(str(backend.path), factory), feeds)
        if backend.path.suffix == ".pt2":
            return torch_exported(backend.path, feeds)
        return torch_script(backend.path, feeds)
    if backend.name == "onnxrt":
        return onnx_runtime(backend.path, feeds, basic=basic)
    if backend.name == "mxnet":
        return mxnet_executor(backend.symbol_path, backend.params_path, feeds)
    if backend.name == "caffe":
        return opencv_net(backend.prototxt, backend.weights, feeds, basic=basic)
    raise ValueError(f"no plain forward for backend {backend.name}")


def load_factory(path: str, factory: str) -> Any:
    """``factory()`` from the Python file ``path``."""
    spec = importlib.util.spec_from_file_location(Path(path).stem + "_plain", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, factory)()


def torch_eager(module: Any, feeds: Mapping[str, np.ndarray], *, evaluating: bool = True
                ) -> Forward:
    """``module(x)`` under ``torch.no_grad()``, in eval mode unless told it is already (a
    ``torch.export`` program's module refuses ``eval()``)."""
    import torch

    args = [torch.from_numpy(np.ascontiguousarray(v)) for v in feeds.values()]
    if evaluating:
        module.eval()

    def forward() -> Any:
        with torch.no_grad():
            return module(*args)

    return forward


def torch_script(path: Path, feeds: Mapping[str, np.ndarray]) -> Forward:
    """A loaded TorchScript archive called on the inputs."""
    import torch

    return torch_eager(torch.jit.load(str(path), map_location="cpu"), feeds)


def torch_exported(path: Path, feeds: Mapping[str, np.ndarray]) -> Forward:
    """A ``torch.export`` program's module called on the inputs."""
    import torch

    return torch_eager(torch.export.load(str(path)).module(), feeds, evaluating=False)


def onnx_runtime(path: Path, feeds: Mapping[str, np.ndarray], *, basic: bool = False) -> Forward:
    """``InferenceSession.run(None, feeds)``; default graph optimisation unless ``basic``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if basic:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    types = {i.name: np.int64 if i.type == "tensor(int64)" else np.float32
             for i in session.get_inputs()}
    typed = {k: np.asarray(v, dtype=types.get(k, np.float32)) for k, v in feeds.items()}
    return lambda: session.run(None, typed)


def mxnet_executor(symbol: Path, params: Path, feeds: Mapping[str, np.ndarray]) -> Forward:
    """The symbol's outputs from one bound executor, ``forward(is_train=False)``."""
    import mxnet as mx

    sym = mx.sym.load(str(symbol))
    arrays = {k.split(":", 1)[-1]: v for k, v in mx.nd.load(str(params)).items()}
    shapes = {k: tuple(v.shape) for k, v in feeds.items()}
    executor = sym.simple_bind(mx.cpu(), grad_req="null", **shapes)
    for name, array in {**executor.arg_dict, **executor.aux_dict}.items():
        if name in feeds:
            array[:] = feeds[name]
        elif name in arrays:
            array[:] = arrays[name]
        else:
            array[:] = 0
    return lambda: [out.asnumpy() for out in executor.forward(is_train=False)]


def opencv_net(prototxt: Path, caffemodel: Path, feeds: Mapping[str, np.ndarray], *,
               basic: bool = False) -> Forward:
    """``cv2.dnn`` with its default settings (layer fusion on) unless ``basic``,
    ``net.forward()``. The prototxt is read as parity gives it to OpenCV (BVLC's
    ``round_mode`` as OpenCV's ``ceil_mode``: OpenCV cannot run it otherwise)."""
    import cv2

    from parity.backends.opencv_caffe import opencv_text

    text = opencv_text(Path(prototxt).read_text())
    net = cv2.dnn.readNetFromCaffe(np.frombuffer(text.encode("utf-8"), np.uint8),
                                   np.fromfile(caffemodel, np.uint8))
    if basic:
        net.enableFusion(False)
        net.enableWinograd(False)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    blobs = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}

    def forward() -> Any:
        for name, blob in blobs.items():
            net.setInput(blob, name)
        return net.forward()

    return forward
