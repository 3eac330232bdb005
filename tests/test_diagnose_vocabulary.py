"""Each backend's vocabulary lives with its record and reads that backend's real graphs
into the neutral attributes the checks compare."""

from __future__ import annotations

import math
import os

import pytest

from conftest import FIXTURES
from parity.api import open_model
from parity.diagnose.vocabulary import describe, vocabulary
from parity.diagnose.vocabulary.words import Vocabulary
from parity.registry import records


def test_every_record_names_a_vocabulary():
    for name, info in records().items():
        assert info.vocabulary, name
        assert isinstance(vocabulary(name), Vocabulary), name
    # the ONNX runtimes read ONNX nodes alike
    assert vocabulary("opencv") is vocabulary("onnxrt") is vocabulary("onnxref")


def _first(model, op):
    return next(n.name for n in model.graph if n.op == op)


def test_keras_layers_in_neutral_terms(monkeypatch):
    if "KERAS_BACKEND" not in os.environ:
        monkeypatch.setenv("KERAS_BACKEND", "torch")  # keras cannot import without a backend
    pytest.importorskip("keras", reason="parity[keras] not installed")
    model = open_model(FIXTURES / "keras" / "resnet_small.keras")
    ops = {n.op for n in model.graph}
    conv = describe(model, _first(model, "Conv2D"))
    assert len(conv["kernel"]) == 2 and len(conv["stride"]) == 2 and len(conv["pads"]) == 4
    assert describe(model, _first(model, "BatchNormalization"))["norm"] == "batch"
    assert "eps" in describe(model, _first(model, "BatchNormalization"))
    if "Activation" in ops:
        assert describe(model, _first(model, "Activation"))["activation"] in ("clip", "silu")


@pytest.fixture(scope="session")
def smallcnn_ir(tmp_path_factory):
    ov = pytest.importorskip("openvino", reason="parity[openvino] not installed")
    path = tmp_path_factory.mktemp("vocabulary") / "smallcnn.xml"
    ov.save_model(ov.convert_model(str(FIXTURES / "smallcnn.onnx")), str(path))
    return path


def test_openvino_and_onnx_describe_the_same_layers_alike(smallcnn_ir):
    ir, onnx = open_model(smallcnn_ir), open_model(FIXTURES / "smallcnn.onnx")
    conv_ir = describe(ir, _first(ir, "Convolution"))
    conv_onnx = describe(onnx, _first(onnx, "Conv"))
    for key in ("kernel", "stride", "pads", "dilation"):
        if key in conv_ir:
            assert conv_ir[key] == conv_onnx[key], key
    assert conv_ir["stride"] == conv_onnx["stride"] and conv_ir["pads"] == conv_onnx["pads"]
    relu = describe(ir, _first(ir, "Relu"))
    assert relu == {"activation": "clip", "clip": (0.0, math.inf)}


def test_opencv_reads_onnx_nodes_with_the_onnx_words():
    pytest.importorskip("cv2", reason="parity[caffe] (OpenCV) not installed")
    opencv = open_model(FIXTURES / "smallcnn.onnx", backend="opencv")
    onnx = open_model(FIXTURES / "smallcnn.onnx")
    name = _first(onnx, "Conv")
    assert describe(opencv, name) == describe(onnx, name)


@pytest.mark.slow
def test_tflite_options_in_neutral_terms(tmp_path):
    pytest.importorskip("ai_edge_litert", reason="parity[tflite] not installed")
    litert_torch = pytest.importorskip("litert_torch", reason="litert-torch (test extra)")
    import torch
    from torch import nn

    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU6()).eval()
    path = tmp_path / "conv.tflite"
    litert_torch.convert(model, (torch.randn(1, 3, 16, 16),)).export(str(path))
    tflite = open_model(path)
    conv = describe(tflite, _first(tflite, "CONV_2D"))
    assert conv["stride"] == (2, 2) and conv["dilation"] == (1, 1)
    assert conv.get("activation") == "clip" and conv["clip"] == (0.0, 6.0)  # fused ReLU6
