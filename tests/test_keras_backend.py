"""The Keras backend on the ResNet-style fixture, with real Keras forward passes (torch)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # keras cannot import without a backend
keras = pytest.importorskip("keras")

from parity.api import open_model  # noqa: E402
from parity.backends.keras_model import KerasBackend  # noqa: E402
from parity.errors import BackendUnavailable, ModelLoadError  # noqa: E402
from parity.graph import Node, TensorSpec  # noqa: E402

KERAS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "keras"
H5 = KERAS_DIR / "resnet_small.h5"
ARCHIVE = KERAS_DIR / "resnet_small.keras"


@pytest.fixture(scope="module")
def resnet() -> KerasBackend:
    return KerasBackend(H5)


@pytest.fixture(scope="module")
def image() -> dict[str, np.ndarray]:
    """A seeded NHWC input in 0..255, as the fixture expects."""
    rng = np.random.RandomState(0)
    return {"input_1": rng.uniform(0, 255, (1, 112, 112, 3)).astype(np.float32)}


def tiny_model(path: Path, with_lambda: bool = False) -> Path:
    """Save a small Sequential model: conv with fused relu, default BN, optional Lambda."""
    layers = keras.layers
    stack = [keras.Input((8, 8, 3), name="pixels"),
             layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="conv"),
             layers.BatchNormalization(name="bn")]
    if with_lambda:
        stack.append(layers.Lambda(lambda t: t * 2.0, name="double"))
    stack += [layers.GlobalAveragePooling2D(name="gap"), layers.Dense(2, name="head")]
    keras.Sequential(stack).save(path)
    return path


# ------------------------------------------------------------------- graph description


def test_graph_inputs_outputs_and_ops(resnet: KerasBackend) -> None:
    graph = resnet.graph
    assert graph.inputs == (TensorSpec("input_1", (None, 112, 112, 3), "float32"),)
    assert graph.outputs == ("predictions",)
    assert "input_1" not in graph  # the InputLayer is an input, not a node
    ops = {node.name: node.op for node in graph}
    assert ops["conv1_pad"] == "ZeroPadding2D"
    assert ops["conv1_conv"] == "Conv2D"
    assert ops["conv1_bn"] == "BatchNormalization"
    assert ops["conv1_relu"] == "Activation"
    assert ops["pool1_pool"] == "MaxPooling2D"
    assert ops["conv2_block1_add"] == "Add"
    assert ops["flatten"] == "Flatten"
    assert ops["predictions"] == "Dense"
    assert ops["rescaling"] == "Rescaling"
    assert graph.node("rescaling").attrs["offset"] == -1.0
    assert len(graph) == 35


def test_graph_inbound_layers_and_shapes(resnet: KerasBackend) -> None:
    graph = resnet.graph
    assert graph.node("rescaling").inputs == ("input_1",)
    assert graph.node("conv1_pad").inputs == ("rescaling",)
    assert graph.node("conv2_block1_add").inputs == ("conv2_block1_0_bn", "conv2_block1_3_bn")
    assert graph.node("fc1").inputs == ("flatten",)
    assert graph.node("conv1_conv").shape == (1, 56, 56, 8)
    assert graph.node("conv3_block1_2_conv").shape == (1, 14, 14, 8)
    assert graph.node("flatten").shape == (1, 784)
    assert graph.node("predictions").shape == (1, 10)
    order = graph.order
    for node in graph:
        assert all(order.get(name, -1) < order[node.name] for name in node.inputs)


def test_graph_attributes(resnet: KerasBackend) -> None:
    node = resnet.graph.node
    assert node("conv1_bn").attrs["eps"] == pytest.approx(1.001e-5, rel=1e-12)
    assert node("conv1_conv").attrs.items() >= {
        "kernel": (7, 7), "stride": (2, 2), "padding": "valid", "pad": (0, 0), "group": 1,
        "dilation": (1, 1)}.items()
    assert node("conv2_block1_2_conv").attrs["pad"] == (1, 1)
    # "same" with stride 2 on an even size: the extra pixel goes after (top, left, bottom, right)
    assert node("conv3_block1_2_conv").attrs["pad"] == (0, 0, 1, 1)
    assert node("conv1_pad").attrs["pad"] == (3, 3)
    assert node("pool1_pool").attrs.items() >= {
        "kernel": (3, 3), "stride": (2, 2), "pad": (0, 0)}.items()
    assert node("fc1").attrs == {"units": 32, "activation": "relu"}
    assert node("predictions").attrs["activation"] == "softmax"
    assert "activation" not in node("conv1_conv").attrs  # linear: nothing fused


def test_layout_marks_channels_last_4d_outputs(resnet: KerasBackend) -> None:
    for node in resnet.graph:
        rank = len(node.shape or ())
        assert node.attrs.get("layout") == ("NHWC" if rank == 4 else None), node.name
    assert resnet.graph.node("flatten").attrs["flatten_order"] == "NHWC"


def test_default_eps_fused_activation_and_sequential(tmp_path: Path) -> None:
    graph = KerasBackend(tiny_model(tmp_path / "tiny.keras")).graph
    assert graph.inputs[0].name == "pixels"
    assert graph.node("bn").attrs["eps"] == pytest.approx(1e-3)
    assert graph.node("conv").attrs["activation"] == "relu"
    assert graph.node("conv").attrs["pad"] == (0, 0, 1, 1)
    assert graph.node("gap").shape == (1, 4) and "layout" not in graph.node("gap").attrs
    assert [n.inputs for n in graph] == [("pixels",), ("conv",), ("bn",), ("gap",)]


# --------------------------------------------------------------------------- running


def count_calls(monkeypatch: pytest.MonkeyPatch, layer: Any) -> list[int]:
    """Count calls of ``layer.call`` (every forward pass runs it once)."""
    calls: list[int] = []
    original: Callable[..., Any] = layer.call

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(layer, "call", counted)
    return calls


def test_one_forward_pass_captures_every_layer(
    resnet: KerasBackend, image: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [node.name for node in resnet.graph]
    calls = count_calls(monkeypatch, resnet.model.get_layer("conv1_conv"))
    values = resnet.run(image, names)
    assert len(calls) == 1
    assert set(values) == set(names)
    assert all(values[n.name].shape == n.shape for n in resnet.graph)
    assert (values["conv1_relu"] >= 0).all()
    np.testing.assert_allclose(values["predictions"].sum(), 1.0, rtol=1e-5)
    resnet.run(image, names)
    assert len(calls) == 2  # the cached probe model: again one pass
    direct = keras.ops.convert_to_numpy(resnet.model(image["input_1"], training=False))
    np.testing.assert_array_equal(values["predictions"], direct)


def test_run_returns_graph_input_and_a_subset(
    resnet: KerasBackend, image: dict[str, np.ndarray]
) -> None:
    values = resnet.run(image, ["input_1", "conv1_bn"])
    np.testing.assert_array_equal(values["input_1"], image["input_1"])
    assert values["conv1_bn"].shape == (1, 56, 56, 8)


def test_h5_and_keras_archive_agree(resnet: KerasBackend, image: dict[str, np.ndarray]) -> None:
    archive = KerasBackend(ARCHIVE)
    assert [(n.name, n.op, n.inputs, n.attrs, n.shape) for n in archive.graph] == \
        [(n.name, n.op, n.inputs, n.attrs, n.shape) for n in resnet.graph]
    names = [node.name for node in resnet.graph]
    ours, theirs = resnet.run(image, names), archive.run(image, names)
    for name in names:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_weights_file_replaces_the_stored_weights(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "tiny.keras")
    other = keras.models.load_model(path)
    other.get_layer("head").set_weights([np.ones((4, 2)), np.full(2, 3.0)])
    other.save_weights(tmp_path / "other.weights.h5")
    pixels = {"pixels": np.ones((1, 8, 8, 3), np.float32)}
    values = KerasBackend(path, tmp_path / "other.weights.h5").run(pixels, ["gap", "head"])
    np.testing.assert_allclose(values["head"], values["gap"].sum() + 3.0, rtol=1e-6)
    with pytest.raises(ModelLoadError, match="weights do not load"):
        KerasBackend(path, KERAS_DIR / "resnet_small.h5")


# ------------------------------------------------------------------- refusing to load


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_is_refused_unless_trusted(tmp_path: Path, suffix: str) -> None:
    path = tiny_model(tmp_path / f"lambda{suffix}", with_lambda=True)
    with pytest.raises(ModelLoadError) as refused:
        KerasBackend(path)
    message = str(refused.value)
    assert message.startswith(str(path))
    assert "contains a Lambda layer with Python code" in message and "--trust-code" in message
    assert "\n" not in message
    trusted = KerasBackend(path, trust_code=True)
    pixels = np.ones((1, 8, 8, 3), np.float32)
    values = trusted.run({"pixels": pixels}, ["bn", "double"])
    np.testing.assert_allclose(values["double"], 2 * values["bn"], rtol=1e-6)


def test_corrupt_h5_is_a_load_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00garbage" * 64)
    with pytest.raises(ModelLoadError) as broken:
        open_model(path)
    assert str(path) in str(broken.value) and "\n" not in str(broken.value)


@pytest.mark.filterwarnings("ignore:You are saving a model that has not yet been built")
def test_never_built_model_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "unbuilt.keras"
    keras.Sequential([keras.layers.Dense(2)]).save(path)
    with pytest.raises(ModelLoadError, match="never built"):
        KerasBackend(path)


def test_keras_on_another_backend_is_refused(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(BackendUnavailable, match="KERAS_BACKEND=torch"):
        KerasBackend(H5)


# ------------------------------------------------- the MMdnn-style MXNet conversions


# Where MMdnn's names differ: unnamed adds, split-off activations, SoftmaxOutput.
MXNET_NAMES = {"conv2_block1_add": "broadcast_add0", "conv3_block1_add": "broadcast_add1",
               "fc1": "fc1_activation", "predictions": "softmax", "rescaling": "rescaling_add"}


def as_nchw(node: Node, value: np.ndarray, graph: Any) -> np.ndarray:
    """A Keras value in MXNet's layout, from the node's ``layout``/``flatten_order``."""
    if node.attrs.get("layout") == "NHWC":
        return value.transpose(0, 3, 1, 2)
    if node.attrs.get("flatten_order") == "NHWC":
        source = graph.node(node.inputs[0]).shape
        return value.reshape(source).transpose(0, 3, 1, 2).reshape(value.shape)
    return value


@pytest.fixture(scope="module")
def conversions(resnet: KerasBackend, image: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Max |diff| per same-named layer between Keras and each MXNet conversion."""
    mxnet_backend = pytest.importorskip("parity.backends.mxnet_symbol")
    names_b = {n.name: n.name for n in resnet.graph} | MXNET_NAMES
    ours = resnet.run(image, list(names_b))
    found = {}
    for prefix in ("resnet_small", "resnet_small_bad_eps", "resnet_small_flatten"):
        mx_model = mxnet_backend.MXNetBackend(KERAS_DIR / f"{prefix}-symbol.json")
        theirs = mx_model.run({"input_1": image["input_1"].transpose(0, 3, 1, 2).copy()},
                              list(names_b.values()))
        found[prefix] = {
            name: float(np.abs(as_nchw(resnet.graph.node(name), ours[name], resnet.graph)
                               - theirs[other]).max())
            for name, other in names_b.items()
        }
    return found


def test_right_conversion_matches_every_layer(conversions: dict[str, dict[str, float]]) -> None:
    assert max(conversions["resnet_small"].values()) < 1e-4, conversions["resnet_small"]


def test_bad_eps_diverges_from_the_first_batchnorm(
    conversions: dict[str, dict[str, float]]
) -> None:
    diffs = conversions["resnet_small_bad_eps"]
    assert diffs["conv1_conv"] < 1e-4 and diffs["conv1_bn"] > 0.1


def test_unpermuted_dense_diverges_after_flatten(
    conversions: dict[str, dict[str, float]]
) -> None:
    diffs = conversions["resnet_small_flatten"]
    assert diffs["flatten"] < 1e-4 and diffs["fc1"] > 0.1


def test_parameters_in_channels_first_layout(resnet: KerasBackend) -> None:
    mxnet_backend = pytest.importorskip("parity.backends.mxnet_symbol")
    right = mxnet_backend.MXNetBackend(KERAS_DIR / "resnet_small-symbol.json").params
    unpermuted = mxnet_backend.MXNetBackend(KERAS_DIR / "resnet_small_flatten-symbol.json").params
    conv = resnet.parameters("conv1_conv")
    np.testing.assert_array_equal(conv["weight"], right["conv1_conv_weight"].asnumpy())
    assert sorted(resnet.parameters("conv1_bn")) == ["beta", "gamma", "mean", "var"]
    np.testing.assert_array_equal(resnet.parameters("conv1_bn")["var"],
                                  right["conv1_bn_moving_var"].asnumpy())
    fc1 = resnet.parameters("fc1")["weight"]  # (out, in), inputs in Keras' (h, w, c) order
    np.testing.assert_array_equal(fc1, unpermuted["fc1_weight"].asnumpy())
    assert not np.array_equal(fc1, right["fc1_weight"].asnumpy())
    assert resnet.parameters("conv1_relu") == {}
