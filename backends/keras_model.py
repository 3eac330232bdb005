"""Keras adapter: ``.keras`` archives and Keras 2 ``.h5`` files, run by Keras 3 on torch.

Every layer but ``InputLayer`` is one node named by the layer, with the layer's class as
op. Outputs stay in Keras' own layout: a layer whose output is a channels_last 4-D tensor
says so with ``attrs["layout"] == "NHWC"``, and a ``Flatten`` of such a tensor carries
``attrs["flatten_order"] == "NHWC"`` (it flattens in (h, w, c) order). All requested
layers come from one inference forward pass of a functional model whose outputs are
those layers' outputs.

Models load in Keras' safe mode: a ``Lambda`` layer carrying Python code is refused
unless the option ``trust_code=True`` is given.
"""

from __future__ import annotations

import os
import sys

if "keras" not in sys.modules:  # parity runs Keras on torch, whatever the environment says
    os.environ["KERAS_BACKEND"] = "torch"

import json  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from parity.backend import Backend  # noqa: E402
from parity.errors import BackendUnavailable, ModelLoadError  # noqa: E402
from parity.graph import Graph, Node, Shape, TensorSpec  # noqa: E402
from parity.limits import check_depth  # noqa: E402

_KERAS_BACKEND = "torch"
_LAMBDA_REFUSED = ("contains a Lambda layer with Python code; refusing to deserialize it "
                   "— pass trust_code=True (CLI: --trust-code) only for files you trust")
_CODE_REFUSED = ("contains serialized Python code; refusing to deserialize it "
                 "— pass trust_code=True (CLI: --trust-code) only for files you trust")
_LAYOUTS = {"channels_last": "NHWC", "channels_first": "NCHW"}
# (input layout, Flatten's data_format) -> the layout whose element order Flatten keeps;
# a channels_first Flatten moves the channels last before flattening.
_FLATTEN_ORDER = {("NHWC", "channels_last"): "NHWC", ("NCHW", "channels_first"): "NHWC",
                  ("NCHW", "channels_last"): "NCHW"}
# Keras variable name -> the key of Backend.parameters.
_PARAM_KEYS = {"kernel": "weight", "depthwise_kernel": "weight", "bias": "bias",
               "gamma": "gamma", "beta": "beta", "moving_mean": "mean",
               "moving_variance": "var", "alpha": "slope"}
# Keras config key -> parity attribute, for every layer that has the key.
_RENAMES = {"kernel_size": "kernel", "strides": "stride", "dilation_rate": "dilation",
            "epsilon": "eps", "units": "units", "padding": "padding",
            "data_format": "data_format", "axis": "axis", "scale": "scale",
            "offset": "offset"}


class KerasBackend(Backend):
    """Runs Keras models on the CPU in inference mode (``training=False``).

    Options: ``trust_code`` turns Keras' safe mode off, so ``Lambda`` layers load.
    ``weights`` (a ``.weights.h5`` file) replaces the weights stored in the model file.
    """

    name = "keras"
    extra = "keras"

    def __init__(self, path: Path, weights: Path | None = None, **options: Any) -> None:
        super().__init__(path, weights, **options)
        _check_keras_backend()
        self.model = _load_model(self.path, bool(options.get("trust_code", False)))
        if weights is not None:
            _load_weights(self.model, Path(weights))
        self._probes: dict[tuple[str, ...], keras.Model] = {}

    @property
    def input_names(self) -> list[str]:
        """Names of the model's inputs (its ``InputLayer`` names), in call order."""
        return [_producer(tensor) for tensor in self.model.inputs]

    def _load_graph(self) -> Graph:
        inputs = tuple(
            TensorSpec(name, tuple(tensor.shape), keras.backend.standardize_dtype(tensor.dtype))
            for name, tensor in zip(self.input_names, self.model.inputs)
        )
        layouts: dict[str, str] = {}
        nodes = []
        for layer in self.model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            node = _describe(layer, layouts)
            if "layout" in node.attrs:
                layouts[node.name] = node.attrs["layout"]
            nodes.append(node)
        outputs = tuple(_producer(tensor) for tensor in self.model.outputs)
        return Graph(tuple(nodes), inputs, outputs, source=str(self.path))

    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> dict[str, np.ndarray]:
        probe = self._probe(tuple(fetch))
        dtypes = {spec.name: spec.dtype for spec in self.graph.inputs}
        args = [np.asarray(feeds[name], dtype=dtypes[name]) for name in self.input_names]
        with torch.no_grad():
            values = probe(args, training=False)
        if not isinstance(values, (list, tuple)):
            values = [values]
        return {name: keras.ops.convert_to_numpy(value) for name, value in zip(fetch, values)}

    def _probe(self, fetch: tuple[str, ...]) -> keras.Model:
        """The functional model whose outputs are the ``fetch`` layers' (latest one kept)."""
        if fetch not in self._probes:
            outputs = [_first_output(self.model.get_layer(name)) for name in fetch]
            self._probes = {fetch: keras.Model(inputs=self.model.inputs, outputs=outputs)}
        return self._probes[fetch]

    def parameters(self, node: str) -> dict[str, np.ndarray]:
        """The layer's weights, keyed and laid out as :meth:`Backend.parameters` says.

        Conv kernels HWIO -> OIHW (depthwise: one filter per output channel, I = 1),
        Dense kernels (in, out) -> (out, in); a Dense after a Flatten keeps Keras' (h, w, c)
        order of inputs (see the Flatten's ``flatten_order``).
        """
        layer = self.model.get_layer(self.graph.node(node).name)
        found = {}
        for variable in layer.weights:
            key = _PARAM_KEYS.get(variable.path.rsplit("/", 1)[-1])
            if key:
                found[key] = keras.ops.convert_to_numpy(variable)
        if "weight" in found:
            found["weight"] = _channels_first_kernel(layer, found["weight"])
        return found

    def close(self) -> None:
        self._probes.clear()


def _channels_first_kernel(layer: keras.layers.Layer, kernel: np.ndarray) -> np.ndarray:
    """A Keras kernel in torch/ONNX layout: output channels first."""
    if kernel.ndim == 2:
        return kernel.T
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # (kh, kw, in, multiplier)
        height, width, channels, multiplier = kernel.shape
        return kernel.reshape(height, width, 1, channels * multiplier).transpose(3, 2, 0, 1)
    return np.moveaxis(kernel, (-1, -2), (0, 1))  # (k..., in, out) -> (out, in, k...)


def _check_keras_backend() -> None:
    """Refuse a Keras that was imported on another backend before parity set torch."""
    current = keras.backend.backend()
    if current != _KERAS_BACKEND:
        raise BackendUnavailable(
            "keras", "keras",
            f"Keras was imported with the {current!r} backend; parity runs Keras on torch: "
            "set KERAS_BACKEND=torch before anything imports keras")


def _load_model(path: Path, trust_code: bool) -> keras.Model:
    lambdas = [] if trust_code else _lambda_layers(path)
    if lambdas:
        raise ModelLoadError(path, f"{_LAMBDA_REFUSED} (layers: {', '.join(lambdas)})")
    try:
        model = keras.models.load_model(str(path), compile=False, safe_mode=not trust_code)
    except Exception as exc:  # h5py, zipfile, JSON and Keras all raise their own types
        raise ModelLoadError(path, _load_problem(exc)) from None
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ModelLoadError(path, "holds a Keras model that was never built (no inputs); "
                                   "build or call it once before saving")
    return model


def _lambda_layers(path: Path) -> list[str]:
    """Names of the Lambda layers in the model's saved config (empty when unreadable)."""
    try:
        text = _saved_config(path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return []  # Keras' own loader reports what is wrong with the file
    check_depth(text if isinstance(text, str) else text.decode("utf-8", "replace"),
                f"{path} (its Keras config)")
    try:
        config = json.loads(text)
    except ValueError:
        return []
    found: list[str] = []
    stack: list[Any] = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "Lambda":
                found.append(str(item.get("name") or item.get("config", {}).get("name", "?")))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(found)


def _saved_config(path: Path) -> str | bytes:
    """The model config JSON of a ``.keras`` archive or a Keras 2 ``.h5`` file."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return archive.read("config.json")
    import h5py

    with h5py.File(path, "r") as handle:
        config = handle.attrs["model_config"]
    return config if isinstance(config, (str, bytes)) else str(config)


def _load_weights(model: keras.Model, weights: Path) -> None:
    """Replace the model's weights with a ``.weights.h5`` (or Keras 2 ``.h5``) file's."""
    try:
        model.load_weights(str(weights))
    except Exception as exc:  # see _load_model
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(weights, f"weights do not load into the model ({first})") from None


def _load_problem(exc: Exception) -> str:
    """One line saying why Keras could not load a file."""
    message = str(exc).strip()
    if "safe_mode" in message:
        return _LAMBDA_REFUSED if "Lambda" in message else _CODE_REFUSED
    first = message.splitlines()[0] if message else type(exc).__name__
    return f"not a loadable Keras model ({first})"


def _producer(tensor: Any) -> str:
    """Name of the layer that outputs a symbolic Keras tensor."""
    return tensor._keras_history.operation.name


def _first_output(layer: keras.layers.Layer) -> Any:
    """The layer's output at its first call (the first one if it has several)."""
    return keras.tree.flatten(layer.output)[0]


def _input_names(layer: keras.layers.Layer) -> tuple[str, ...]:
    """The layers (or model inputs) feeding the layer's first call."""
    return tuple(dict.fromkeys(_producer(t) for t in keras.tree.flatten(layer.input)))


def _describe(layer: keras.layers.Layer, layouts: Mapping[str, str]) -> Node:
    """The node of one layer; ``layouts`` holds the layouts of the nodes before it."""
    inputs = _input_names(layer)
    shape = _shape(_first_output(layer).shape)
    attrs = _attrs(layer, keras.tree.flatten(layer.input)[0].shape)
    layout = _layout(attrs.get("data_format"), [layouts.get(name) for name in inputs])
    if len(shape) == 4 and layout:
        attrs["layout"] = layout
    if isinstance(layer, keras.layers.Flatten):
        order = _FLATTEN_ORDER.get((layouts.get(inputs[0]), attrs.get("data_format")))
        if order:
            attrs["flatten_order"] = order
    return Node(name=layer.name, op=type(layer).__name__, inputs=inputs, attrs=attrs,
                shape=shape)


def _shape(shape: Sequence[int | None]) -> Shape:
    """An output shape with an open batch dimension set to 1."""
    return tuple(1 if i == 0 and d is None else d for i, d in enumerate(shape))


def _layout(data_format: str | None, input_layouts: list[str | None]) -> str | None:
    """The layer's own data format, else its first input's layout, else Keras' default."""
    if data_format:
        return _LAYOUTS.get(data_format)
    known = [layout for layout in input_layouts if layout]
    return known[0] if known else _LAYOUTS.get(keras.config.image_data_format())


def _attrs(layer: keras.layers.Layer, input_shape: Sequence[int | None]) -> dict[str, Any]:
    """Normalised attributes from the layer config, Keras defaults filled in."""
    config = layer.get_config()
    attrs: dict[str, Any] = {}
    for key, value in config.items():
        if key in _RENAMES and value is not None:
            attrs[_RENAMES[key]] = tuple(value) if isinstance(value, list) else value
    if "pool_size" in config:
        attrs["kernel"] = tuple(config["pool_size"])
        attrs.setdefault("stride", attrs["kernel"])
    activation = _activation_name(config.get("activation"))
    if activation not in (None, "linear"):
        attrs["activation"] = activation
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        attrs["group"] = input_shape[-1 if config["data_format"] == "channels_last" else 1]
    elif "groups" in config:
        attrs["group"] = config["groups"]
    if isinstance(layer, keras.layers.ZeroPadding2D):
        del attrs["padding"]  # pixels, not "valid"/"same": given as pad
        attrs["pad"] = _pad_attr(tuple(tuple(axis) for axis in config["padding"]))
    elif "padding" in attrs and "kernel" in attrs and "Transpose" not in type(layer).__name__:
        pad = _numeric_pad(attrs, input_shape)
        if pad is not None:
            attrs["pad"] = pad
    return attrs


def _activation_name(config: Any) -> str | None:
    """``relu`` for a built-in activation, the registered name of a custom one."""
    if config is None or isinstance(config, str):
        return config
    return str(config.get("registered_name") or config.get("class_name", "custom"))


def _numeric_pad(attrs: Mapping[str, Any],
                 input_shape: Sequence[int | None]) -> tuple[int, ...] | None:
    """Pixels ``valid``/``same`` pad, when the spatial input size is known."""
    kernel = attrs["kernel"]
    if attrs["padding"] == "valid":
        return (0,) * len(kernel)
    if attrs["padding"] != "same":
        return None
    first = 1 if attrs.get("data_format") == "channels_first" else 0
    sizes = list(input_shape[1:])[first:first + len(kernel)]
    if any(size is None for size in sizes):
        return None
    dilation = attrs.get("dilation", (1,) * len(kernel))
    strides = attrs.get("stride", (1,) * len(kernel))
    return _pad_attr(tuple(_same_pad(n, k, s, d)
                           for n, k, s, d in zip(sizes, kernel, strides, dilation)))


def _same_pad(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's ``same`` padding (before, after); the odd pixel goes after."""
    span = (kernel - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _pad_attr(pairs: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """One value per axis when symmetric (MXNet/Caffe), else ONNX's begins then ends."""
    if all(before == after for before, after in pairs):
        return tuple(before for before, _ in pairs)
    return tuple(before for before, _ in pairs) + tuple(after for _, after in pairs)
