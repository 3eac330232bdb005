"""The input and attribute checks on real model pairs, each with one bug injected."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import parity
from conftest import FIXTURES, only_hint

MOBILEFACENET = FIXTURES / "mobilefacenet"
SYMBOL = MOBILEFACENET / "model-symbol.json"
FIXED = MOBILEFACENET / "model_fixed.prototxt"
FACE = FIXTURES / "face.jpg"



@pytest.fixture
def flagship() -> None:
    pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")


@pytest.fixture
def torch_onnx() -> None:
    pytest.importorskip("torch", reason="parity[torch] not installed")
    pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")


def test_bn_eps_changed_in_the_onnx_conversion(torch_onnx):
    report = parity.compare(FIXTURES / "smallcnn_bad_eps.onnx", FIXTURES / "smallcnn.pt", seed=0)
    hint = only_hint(report, "bn_eps_mismatch")
    assert hint.node == "/layer2/layer2.0/bn2/BatchNormalization"
    assert (hint.evidence["eps_a"], hint.evidence["eps_b"]) == pytest.approx((0.1, 1e-5))
    assert hint.evidence["recomputed_matches"] is True


def test_bn_eps_lost_in_the_caffe_conversion(flagship):
    report = parity.compare(SYMBOL, MOBILEFACENET / "model.prototxt", image=FACE)
    hint = only_hint(report, "bn_eps_mismatch")
    assert hint.node == "conv_1_batchnorm"
    assert hint.evidence["b_node"] == "conv_1_batchnorm"
    assert "batch_norm_param { eps: 0.001 }" in hint.message


def test_pooling_rounds_down_in_the_conversion(torch_onnx, tmp_path):
    import onnx
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1),
                                torch.nn.MaxPool2d(2, ceil_mode=True)).eval()
    example = torch.zeros(1, 3, 7, 7)  # odd: ceil gives 4x4, floor 3x3
    script, converted = traced_and_exported(model, example, tmp_path)
    exported = onnx.load(str(converted))
    pool = next(n for n in exported.graph.node if n.op_type == "MaxPool")
    next(a for a in pool.attribute if a.name == "ceil_mode").i = 0
    onnx.save(exported, str(converted))
    hint = only_hint(parity.compare(script, converted, seed=0), "pool_ceil_mode")
    assert hint.node == "1"  # the pooling module of the Sequential
    assert hint.evidence["rounds_up"] == "A"
    assert "set the `ceil_mode` attribute of `/1/MaxPool` to 1 in net.onnx" in hint.message


def traced_and_exported(model, example, folder: Path) -> tuple[Path, Path]:
    """``model`` as TorchScript and as its ONNX export (TorchScript exporter)."""
    import torch

    script, converted = folder / "net.pt", folder / "net.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, example), str(script))
        torch.onnx.export(model, (example,), str(converted), dynamo=False,
                          input_names=["input"], opset_version=17)
    return script, converted


def test_channels_reversed_for_the_caffe_side(flagship):
    report = parity.compare(SYMBOL, FIXED, image=FACE, preprocess_b={"rgb": False})
    hint = only_hint(report, "channel_order")
    assert hint.node == "_mulscalar0"
    assert hint.evidence["axis"] == 1


def test_first_conv_weights_reversed_in_the_conversion(torch_onnx, tmp_path):
    import onnx
    import torch
    from onnx import numpy_helper

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    example = torch.zeros(1, 3, 6, 6)
    script, converted = traced_and_exported(model, example, tmp_path)
    exported = onnx.load(str(converted))
    weight = next(t for t in exported.graph.initializer if t.name == "0.weight")
    bgr = numpy_helper.to_array(weight)[:, ::-1].copy()
    weight.CopyFrom(numpy_helper.from_array(bgr, weight.name))
    onnx.save(exported, str(converted))
    hint = only_hint(parity.compare(script, converted, seed=0), "channel_order")
    assert hint.node == "0"
    assert hint.evidence["weights_reversed"] is True


def test_caffe_side_fed_raw_pixels(flagship):
    report = parity.compare(SYMBOL, FIXED, image=FACE,
                            preprocess_b={"mean": (0.0,), "scale": 1.0})
    hint = only_hint(report, "input_normalization")
    assert hint.node == "_mulscalar0"
    # B = 128 * A + 127.5: B got the pixels A's graph normalises
    assert hint.evidence["scale"] == pytest.approx([128.0] * 3)
    assert hint.evidence["offset"] == pytest.approx([127.5] * 3)
    assert "--b-mean 127.5 --b-scale 0.0078125" in hint.message


def conv_relu(path: Path, to_nhwc: bool) -> Path:
    """Conv -> Relu, optionally with a Transpose to NHWC before the Relu (the bug)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["input", "w"], ["conv"], "conv", pads=[1, 1, 1, 1])]
    if to_nhwc:
        nodes.append(helper.make_node("Transpose", ["conv"], ["nhwc"], "to_nhwc",
                                      perm=[0, 2, 3, 1]))
    nodes.append(helper.make_node("Relu", ["nhwc" if to_nhwc else "conv"], ["relu"], "relu"))
    out_shape = [1, 5, 5, 4] if to_nhwc else [1, 4, 5, 5]
    graph = helper.make_graph(
        nodes, "conv_relu",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 5, 5])],
        [helper.make_tensor_value_info("relu", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(weight, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_tensor_left_channels_last(tmp_path):
    pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
    report = parity.compare(conv_relu(tmp_path / "nchw.onnx", False),
                            conv_relu(tmp_path / "nhwc.onnx", True), seed=0)
    hint = only_hint(report, "layout")
    assert hint.node == "relu"
    assert (hint.evidence["a_layout"], hint.evidence["b_layout"]) == ("NCHW", "NHWC")
