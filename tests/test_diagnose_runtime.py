"""Diagnosis of how a model ran: training mode left on, lower precision, float32 rounding."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest

from conftest import FIXTURES, exact_hint

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
onnx = pytest.importorskip("onnx", reason="parity[onnx] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

from realmodels.onnx_edits import to_float16  # noqa: E402
from torch import nn  # noqa: E402

import parity  # noqa: E402

MOBILEFACENET = FIXTURES / "mobilefacenet"
FACE = FIXTURES / "face.jpg"
EXAMPLE_SHAPE = (1, 3, 8, 8)


def build() -> nn.Module:
    """conv-bn-relu-pool-flatten-fc with trained-looking BatchNorm statistics."""
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(3, 8, 3, padding=1))
    model.add_module("bn1", nn.BatchNorm2d(8))
    model.add_module("relu", nn.ReLU())
    model.add_module("pool", nn.MaxPool2d(2))
    model.add_module("flatten", nn.Flatten())
    model.add_module("fc", nn.Linear(8 * 4 * 4, 10))
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
        model.bn1.weight.uniform_(0.5, 1.5)
        model.bn1.bias.uniform_(-0.2, 0.2)
    return model.eval()


def export(model: nn.Module, path: Path, mode: torch.onnx.TrainingMode) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(EXAMPLE_SHAPE),), str(path), dynamo=False,
                          training=mode, do_constant_folding=False, input_names=["input"],
                          output_names=["logits"], opset_version=17)
    return path


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The eval model traced to TorchScript: the reference side."""
    path = tmp_path_factory.mktemp("runtime") / "net.pt"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(build(), torch.zeros(EXAMPLE_SHAPE)), str(path))
    return path



def test_onnx_exported_from_a_train_mode_model(script, tmp_path):
    careless = copy.deepcopy(build()).train()  # forgot model.eval() before exporting
    onnx_path = export(careless, tmp_path / "train.onnx", torch.onnx.TrainingMode.TRAINING)
    hint = exact_hint(parity.compare(script, onnx_path, seed=0), "train_mode")
    assert hint.node == "bn1"
    assert hint.evidence["side"] == "B"
    assert hint.evidence["flagged"] == ["/bn1/BatchNormalization"]
    assert hint.evidence["batch_statistics"] is True
    assert "model.eval()" in hint.message and "TrainingMode.EVAL" in hint.message


def test_torchscript_traced_in_train_mode():
    report = parity.compare(FIXTURES / "smallcnn.onnx", FIXTURES / "smallcnn_train.pt", seed=0)
    hint = exact_hint(report, "train_mode")
    assert hint.node == "/bn1/BatchNormalization"
    assert hint.evidence["side"] == "B" and hint.evidence["was_training"] is True
    assert "B ran `bn1` with batch statistics" in hint.message


def test_float16_conversion_is_rounding(script, tmp_path):
    path = export(build(), tmp_path / "net.onnx", torch.onnx.TrainingMode.PRESERVE)
    to_float16(path, path)
    assert parity.compare(script, path, seed=0).ok  # float16 rounding is within the noise bound
    hint = exact_hint(parity.compare(script, path, seed=0, atol=1e-5, rtol=1e-5), "precision")
    assert hint.node == "conv1"
    assert (hint.evidence["dtype"], hint.evidence["side"]) == ("float16", "B")
    atol = hint.evidence["suggested_atol"]
    assert f"--atol {atol:g}" in hint.message
    assert parity.compare(script, path, seed=0, atol=atol).ok


def test_float32_rounding_at_a_tight_tolerance():
    pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    pytest.importorskip("parity.backends.mxnet_symbol", reason="parity[mxnet] not installed")
    models = (MOBILEFACENET / "model-symbol.json", MOBILEFACENET / "model_fixed.prototxt")
    report = parity.compare(*models, image=FACE, atol=1e-6, rtol=1e-6)
    hint = exact_hint(report, "precision")
    assert hint.node == report.first_divergence.a == "conv_2_dw_batchnorm"
    assert (hint.evidence["dtype"], hint.evidence["side"]) == ("float32", None)
    atol = hint.evidence["suggested_atol"]
    assert parity.compare(*models, image=FACE, atol=atol, rtol=1e-6).ok


def test_precision_is_quiet_on_a_real_bug():
    report = parity.compare(FIXTURES / "smallcnn_bad_eps.onnx", FIXTURES / "smallcnn.pt", seed=0)
    assert exact_hint(report, "bn_eps_mismatch").node == "/layer2/layer2.0/bn2/BatchNormalization"


def test_precision_is_quiet_on_a_layer_scaled_by_a_constant(script, tmp_path):
    """A tensor divided by a constant keeps its direction (cosine 1) yet is far off: a
    converter's pooler dividing by the whole kernel, not rounding."""
    from onnx import numpy_helper

    path = export(build(), tmp_path / "scaled.onnx", torch.onnx.TrainingMode.PRESERVE)
    model = onnx.load(str(path))
    for tensor in model.graph.initializer:
        if tensor.name in ("fc.weight", "fc.bias"):
            scaled = numpy_helper.to_array(tensor) / 16384
            tensor.CopyFrom(numpy_helper.from_array(scaled, tensor.name))
    onnx.save(model, str(path))
    report = parity.compare(script, path, seed=0)
    assert report.first_divergence.a == "fc"
    assert report.first_divergence.metrics.cosine > 1 - 1e-9
    assert exact_hint(report, "weights_differ").node == "fc"
