"""Diagnosis inside one layer: real model pairs, each with one conversion bug injected."""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, exact_hint

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
onnx = pytest.importorskip("onnx", reason="parity[onnx] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

from onnx import numpy_helper  # noqa: E402
from torch import nn  # noqa: E402

import parity  # noqa: E402

MOBILEFACENET = FIXTURES / "mobilefacenet"
FACE = FIXTURES / "face.jpg"
KERAS = FIXTURES / "keras"


class Net(nn.Module):
    """conv-bn-relu, two branches joined by a concat, pooling, flatten, fully connected."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.a = nn.Conv2d(8, 4, 1)
        self.b = nn.Conv2d(8, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = torch.cat([self.a(x), self.b(x)], 1)
        return self.fc(torch.flatten(self.pool(x), 1))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The model traced to TorchScript and exported to ONNX (BatchNorm kept)."""
    folder = tmp_path_factory.mktemp("net")
    torch.manual_seed(0)
    model = Net().eval()
    example = torch.zeros(1, 3, 8, 8)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, example), str(folder / "net.pt"))
        torch.onnx.export(model, (example,), str(folder / "net.onnx"), dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                          input_names=["input"], opset_version=17)
    return folder / "net.pt", folder / "net.onnx"


def converted(source: Path, target: Path, edit) -> Path:
    """A copy of the ONNX model at ``source`` with ``edit(model)`` applied: the bug."""
    model = onnx.load(str(source))
    edit(model)
    onnx.save(model, str(target))
    return target


def replace_initializer(model: onnx.ModelProto, name: str, change) -> None:
    tensor = next(t for t in model.graph.initializer if t.name == name)
    value = change(numpy_helper.to_array(tensor).copy())
    tensor.CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))



def test_fc_weights_converted_for_channels_last(exported, tmp_path):
    script, source = exported

    def nhwc_columns(model: onnx.ModelProto) -> None:
        replace_initializer(model, "fc.weight",
                            lambda w: w.reshape(10, 8, 4, 4).transpose(0, 2, 3, 1).reshape(10, -1))

    buggy = converted(source, tmp_path / "flatten.onnx", nhwc_columns)
    hint = exact_hint(parity.compare(script, buggy, seed=0), "flatten_order")
    assert hint.node == "fc"
    assert hint.evidence["side"] == "B" and hint.evidence["chw"] == [8, 4, 4]
    assert "B's `/fc/Gemm` weights expect the input flattened as H,W,C" in hint.message


def test_keras_dense_not_permuted_for_the_mxnet_flatten():
    pytest.importorskip("parity.backends.keras_model", reason="parity[keras] not installed")
    pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
    report = parity.compare(KERAS / "resnet_small.h5", KERAS / "resnet_small_flatten-symbol.json",
                            image=FACE)
    hint = exact_hint(report, "flatten_order")
    assert hint.node == "fc1"
    assert (hint.evidence["side"], hint.evidence["chw"]) == ("B", [16, 7, 7])


def test_concat_inputs_swapped(exported, tmp_path):
    script, source = exported

    def swap_inputs(model: onnx.ModelProto) -> None:
        concat = next(n for n in model.graph.node if n.op_type == "Concat")
        concat.input[:] = list(reversed(concat.input))

    buggy = converted(source, tmp_path / "concat.onnx", swap_inputs)
    hint = exact_hint(parity.compare(script, buggy, seed=0), "concat_order")
    assert hint.node == "cat"
    assert hint.evidence["order_b"] == ["/b/Conv", "/a/Conv"]
    assert "list the inputs of `/Concat` as (`/a/Conv`, `/b/Conv`)" in hint.message


def test_caffe_concat_converted_to_torch_in_the_other_order():
    pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    folder = FIXTURES / "caffe_torch"
    torch_model = parity.open_model(f"{folder / 'net.py'}:build_swapped", folder / "state.pt")
    report = parity.compare(folder / "deploy.prototxt", torch_model, image=FACE)
    hint = exact_hint(report, "concat_order")
    assert hint.node == "concat"
    assert hint.evidence["order_b"] == ["branch_b", "branch_a"]


def test_one_conv_filter_scaled(exported, tmp_path):
    script, source = exported

    def scale_filter(model: onnx.ModelProto) -> None:
        replace_initializer(model, "b.weight", lambda w: np.concatenate([w[:1], w[1:2] * 1.5,
                                                                         w[2:]]))

    buggy = converted(source, tmp_path / "weights.onnx", scale_filter)
    hint = exact_hint(parity.compare(script, buggy, seed=0), "weights_differ")
    assert hint.node == "b"
    assert hint.evidence["parameters"]["weight"]["channels"] == [1]


def test_caffe_depthwise_filter_changed(tmp_path):
    pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
    sys.path.insert(0, str(FIXTURES))
    import caffe_proto

    net = caffe_proto.message("NetParameter")
    net.ParseFromString((MOBILEFACENET / "model.caffemodel").read_bytes())
    layer = next(x for x in net.layer if x.name == "conv_2_dw_conv2d")
    for i in range(9):  # the first 3x3 filter
        layer.blobs[0].data[i] *= 1.5
    (tmp_path / "model.caffemodel").write_bytes(net.SerializeToString())
    shutil.copy(MOBILEFACENET / "model_fixed.prototxt", tmp_path / "model.prototxt")
    report = parity.compare(MOBILEFACENET / "model-symbol.json", tmp_path / "model.prototxt",
                            image=FACE)
    hint = exact_hint(report, "weights_differ")
    assert hint.node == "conv_2_dw_conv2d"
    assert hint.evidence["parameters"]["weight"]["channels"] == [0]
    assert "in B (model.caffemodel)" in hint.message


def test_correct_torch_onnx_pair_has_no_hint():
    report = parity.compare(FIXTURES / "smallcnn.onnx", FIXTURES / "smallcnn.pt", seed=0)
    assert report.ok and report.hints == ()


def test_correct_mxnet_caffe_pair_has_no_hint():
    pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
    report = parity.compare(MOBILEFACENET / "model-symbol.json",
                            MOBILEFACENET / "model_fixed.prototxt", image=FACE)
    assert report.ok and report.hints == ()
