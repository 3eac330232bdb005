"""Real MXNet architectures from ``mxnet.gluon.model_zoo.vision`` with seeded random weights,
and their conversions: symbol JSON + params, ``mx.onnx.export_model``, and Caffe through the
converter the MobileFaceNet fixture was made with (extended to the ops of these models)."""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE")

import numpy as np  # noqa: E402

if "bool" not in vars(np):
    np.bool = bool  # mxnet 1.9.1 still uses the alias numpy 1.24 removed

import mxnet as mx  # noqa: E402

SEED = 0
IMAGE_SIZE = {"small": 32, "full": 224}
CLASSES = {"small": 10, "full": 1000}
ZOO = {"mx_resnet18": "resnet18_v1", "mx_mobilenet_v2": "mobilenetv2_1.0",
       "mx_densenet121": "densenet121", "mx_vgg11": "vgg11"}
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def build(name: str, size: str = "small", side: int | None = None) -> Any:
    """The gluon model-zoo network, seeded Xavier weights, BatchNorm stats randomised,
    hybridized and run once (so it can be exported) on ``side`` px images (default: the
    size's)."""
    mx.random.seed(SEED)
    net = _network(name, size)
    net.initialize(mx.init.Xavier(magnitude=2.0))
    side = side or IMAGE_SIZE[size]
    net(mx.nd.zeros((1, 3, side, side)))  # shapes are known after a first pass
    rng = np.random.default_rng(SEED + 1)
    for key, param in net.collect_params().items():
        channels = param.shape[0]
        if key.endswith("gamma"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 1.5, channels)))
        elif key.endswith(("beta", "running_mean")):
            param.set_data(mx.nd.array(rng.normal(0, 0.2, channels)))
        elif key.endswith("running_var"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 2.0, channels)))
    net.hybridize()
    net(mx.nd.zeros((1, 3, side, side)))
    return net


def _network(name: str, size: str) -> Any:
    """The model zoo's network; VGG-11 when small keeps its layer counts and dense head at
    an eighth of its convolution widths (its 4096-wide dense layers are fixed)."""
    if name == "mx_vgg11" and size == "small":
        return _zoo().VGG([1, 1, 2, 2, 2], [8, 16, 32, 64, 64], classes=CLASSES[size])
    return _zoo().get_model(ZOO[name], classes=CLASSES[size])


def _zoo() -> Any:
    from mxnet.gluon.model_zoo import vision

    return vision


def symbol(net: Any, prefix: Path) -> Path:
    """``prefix-symbol.json`` + ``prefix-0000.params``; returns the symbol path."""
    net.export(str(prefix))
    return Path(f"{prefix}-symbol.json")


def to_onnx(symbol_path: Path, shape: tuple[int, ...], path: Path) -> Path:
    """``mx.onnx.export_model`` of an exported symbol."""
    _provide_onnx_mapping()
    params = symbol_path.with_name(symbol_path.name.replace("-symbol.json", "-0000.params"))
    mx.onnx.export_model(str(symbol_path), str(params), in_shapes=[shape],
                         in_types=[np.float32], onnx_file_path=str(path))
    return path


def _provide_onnx_mapping() -> None:
    """mx.onnx imports ``onnx.mapping``, which onnx 1.15 removed: rebuild its two tables."""
    import onnx

    if hasattr(onnx, "mapping"):
        return
    from onnx import helper

    module = types.ModuleType("onnx.mapping")
    codes = [c for c in onnx.TensorProto.DataType.values() if c != onnx.TensorProto.UNDEFINED]
    to_np = {}
    for code in codes:
        try:
            to_np[code] = np.dtype(helper.tensor_dtype_to_np_dtype(code))
        except (KeyError, TypeError, ValueError):
            continue
    module.TENSOR_TYPE_TO_NP_TYPE = to_np
    module.NP_TYPE_TO_TENSOR_TYPE = {dtype: code for code, dtype in reversed(to_np.items())}
    sys.modules["onnx.mapping"] = module
    onnx.mapping = module


def to_caffe(symbol_path: Path, shape: tuple[int, ...], prototxt: Path,
             inject: Callable[[list[dict[str, Any]]], None] | None = None) -> Path:
    """``deploy.prototxt`` + ``.caffemodel`` beside it, from the symbol and its params;
    ``inject`` changes the converted layers before they are written (an injected bug)."""
    converter_module = _fixture_converter()
    caffe_proto = converter_module.caffe_proto
    prefix = Path(str(symbol_path).removesuffix("-symbol.json"))
    sym, params = converter_module.load_mxnet(prefix)
    converter = _gluon_converter(converter_module)(sym, params)
    layers = converter.convert()
    if inject is not None:
        inject(layers)
    net = {"name": prefix.name, "input": converter.inputs,
           "input_shape": [{"dim": list(shape)} for _ in converter.inputs], "layer": layers}
    caffe_proto.write_prototxt(prototxt, net)
    caffe_proto.write_caffemodel(prototxt.with_suffix(".caffemodel"), net)
    return prototxt


def _fixture_converter() -> types.ModuleType:
    name = "parity_fixture_convert_to_caffe"
    if name not in sys.modules:
        path = FIXTURES / "mobilefacenet" / "convert_to_caffe.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def _gluon_converter(base: types.ModuleType) -> type:
    """The fixture's MXNet->Caffe converter plus ReLU, ReLU6 (clip 0..6), Pooling, Flatten,
    Concat and Dropout (identity at inference)."""

    class GluonConverter(base.Converter):  # type: ignore[name-defined,misc]
        def convert(self) -> list[dict[str, Any]]:
            handlers = {
                "null": self._variable, "Convolution": self._convolution,
                "BatchNorm": self._batchnorm, "elemwise_add": self._add,
                "FullyConnected": self._fully_connected, "Activation": self._activation,
                "clip": self._clip, "Pooling": self._pooling, "Flatten": self._flatten,
                "Concat": self._concat, "Dropout": self._dropout,
            }
            for index, node in enumerate(self.nodes):
                if node["op"] not in handlers:
                    raise ValueError(f"{node['name']}: no Caffe mapping for {node['op']}")
                handlers[node["op"]](index, node)
            return self.layers

        def _simple(self, index: int, node: dict[str, Any], kind: str, in_place: bool,
                    **params: Any) -> None:
            bottom = self.blob[self._input(node)]
            self.layers.append({"name": node["name"], "type": kind, "bottom": [bottom],
                                "top": [self._top(index, node, in_place=in_place)], **params})

        def _activation(self, index: int, node: dict[str, Any]) -> None:
            if node["attrs"]["act_type"] != "relu":
                raise ValueError(f"{node['name']}: only Activation relu is mapped")
            self._simple(index, node, "ReLU", in_place=True)

        def _clip(self, index: int, node: dict[str, Any]) -> None:
            bounds = float(node["attrs"]["a_min"]), float(node["attrs"]["a_max"])
            if bounds != (0.0, 6.0):
                raise ValueError(f"{node['name']}: only clip(0, 6) (ReLU6) is mapped")
            self._simple(index, node, "ReLU6", in_place=True)

        def _dropout(self, index: int, node: dict[str, Any]) -> None:
            self._simple(index, node, "Dropout", in_place=True)

        def _flatten(self, index: int, node: dict[str, Any]) -> None:
            self._simple(index, node, "Flatten", in_place=False)

        def _concat(self, index: int, node: dict[str, Any]) -> None:
            bottoms = [self.blob[source] for source, _, _ in node["inputs"]]
            self.layers.append({"name": node["name"], "type": "Concat", "bottom": bottoms,
                                "top": [self._top(index, node, in_place=False)],
                                "concat_param": {"axis": int(node["attrs"].get("dim", 1))}})

        def _pooling(self, index: int, node: dict[str, Any]) -> None:
            attrs = node["attrs"]
            param: dict[str, Any] = {"pool": "MAX" if attrs["pool_type"] == "max" else "AVE"}
            if attrs.get("global_pool") == "True":
                param["global_pooling"] = True
            else:
                kernel, stride = base._pair(attrs, "kernel", 1), base._pair(attrs, "stride", 1)
                pad = base._pair(attrs, "pad", 0)
                param.update(kernel_size=kernel[0], stride=stride[0], pad=pad[0])
                full = attrs.get("pooling_convention", "valid") == "full"
                param["round_mode"] = "CEIL" if full else "FLOOR"
            self._simple(index, node, "Pooling", in_place=False, pooling_param=param)

    return GluonConverter
