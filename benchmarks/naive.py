"""The per-layer approach of the user write-ups: one forward pass for every layer wanted.

* ONNX: a copy of the model with that one tensor as its output, a new session, ``run``.
* PyTorch: a forward hook on that layer's module, one forward of the eager module.
* MXNet: ``Group``/internals of that one output, bound and run.
* Caffe (OpenCV): ``net.forward(layer)``, which runs the net up to that layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from parity.backend import Backend

Fetch = Callable[[str], np.ndarray]


def per_layer_fetch(backend: Backend, feeds: Mapping[str, np.ndarray], module: Any = None
                    ) -> Fetch:
    """A function running one forward pass of ``backend``'s model per node it is asked for.

    For PyTorch, ``module`` is the eager ``nn.Module`` the hooks go on.
    """
    if backend.name == "onnxrt":
        return _onnx(backend, feeds)
    if backend.name == "pytorch":
        return _torch(module, feeds)
    if backend.name == "mxnet":
        return _mxnet(backend, feeds)
    if backend.name == "caffe":
        return _caffe(backend, feeds)
    raise ValueError(f"no per-layer approach for backend {backend.name}")


def _onnx(backend: Backend, feeds: Mapping[str, np.ndarray]) -> Fetch:
    import onnx
    import onnxruntime as ort

    source = backend.model  # type: ignore[attr-defined]
    tensor_of = {(p.name or p.output[0]): p.output[0] for p in source.graph.node if p.output}
    typed = {k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()}

    def fetch(node: str) -> np.ndarray:
        model = onnx.ModelProto()
        model.CopyFrom(source)
        del model.graph.output[:]
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor_of[node]))
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        return session.run(None, typed)[0]

    return fetch


def _torch(module: Any, feeds: Mapping[str, np.ndarray]) -> Fetch:
    import torch

    args = [torch.from_numpy(np.ascontiguousarray(v)) for v in feeds.values()]

    def fetch(node: str) -> np.ndarray:
        path, call = _hook_target(node)
        seen: list[torch.Tensor] = []
        hook = module.get_submodule(path).register_forward_hook(
            lambda _m, _i, out: seen.append(out.detach().clone()))
        try:
            with torch.no_grad():
                module(*args)
        finally:
            hook.remove()
        return seen[min(call, len(seen) - 1)].numpy()

    return fetch


def _hook_target(node: str) -> tuple[str, int]:
    """``(module path, call index)`` for a parity torch node name.

    ``layer1.0.relu:2`` is the third call of ``layer1.0.relu``; an op named ``scope/op``
    (a residual add) is approximated by the output of its ``scope`` module.
    """
    name, _, call = node.partition(":")
    path = name.split("/")[0] if "/" in name else name
    return path, int(call) if call.isdigit() else 0


def _mxnet(backend: Backend, feeds: Mapping[str, np.ndarray]) -> Fetch:
    import mxnet as mx

    internals = backend.symbol.get_internals()  # type: ignore[attr-defined]
    params = backend.params  # type: ignore[attr-defined]
    shapes = {k: tuple(v.shape) for k, v in feeds.items()}
    outputs = set(internals.list_outputs())

    def fetch(node: str) -> np.ndarray:
        output = f"{node}_output" if f"{node}_output" in outputs else f"{node}_output0"
        group = mx.sym.Group([internals[output]])
        executor = group.simple_bind(mx.cpu(), grad_req="null",
                                     **{k: s for k, s in shapes.items()
                                        if k in group.list_arguments()})
        for name, array in {**executor.arg_dict, **executor.aux_dict}.items():
            array[:] = feeds[name] if name in feeds else params.get(name, 0)
        return executor.forward(is_train=False)[0].asnumpy()

    return fetch


def _caffe(backend: Backend, feeds: Mapping[str, np.ndarray]) -> Fetch:
    net = backend.net  # type: ignore[attr-defined]
    blobs = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}

    def fetch(node: str) -> np.ndarray:
        for name, blob in blobs.items():
            net.setInput(blob, name)
        return net.forward(node)

    return fetch
