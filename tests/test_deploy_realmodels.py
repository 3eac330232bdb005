"""The deployment runtimes on the shared real-model corpus (transformers ResNet and
MobileNetV2 from configs, small size): the same ONNX in every runtime, and torch ->
OpenVINO IR / TFLite conversions by the real converters."""

import warnings

import pytest

pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
import parity  # noqa: E402
from parity.api import open_model  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["opencv", "onnxref", "openvino"])
@pytest.mark.parametrize("form", ["onnx_legacy", "onnx_dynamo"])
def test_resnet_onnx_agrees_in_every_runtime(real_corpus, backend, form):
    pytest.importorskip({"opencv": "cv2", "onnxref": "onnx", "openvino": "openvino"}[backend])
    path = real_corpus.export("resnet", form)
    report = parity.compare(path, path, b_backend=backend, inputs=real_corpus.inputs("resnet"))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95


@pytest.mark.slow
def test_mobilenet_v2_depthwise_conv_on_1x1_is_wrong_in_opencv(real_corpus):
    """OpenCV DNN 4.11 computes a padded 3x3 depthwise conv on a 1x1 feature map wrongly
    (MobileNetV2's last blocks at 32 px); ONNX Runtime and the reference evaluator agree."""
    pytest.importorskip("cv2")
    path = real_corpus.export("mobilenet_v2", "onnx_dynamo")
    inputs = real_corpus.inputs("mobilenet_v2")
    report = parity.compare(path, path, b_backend="opencv", inputs=inputs)
    assert not report.ok and min(report.coverage) >= 0.95
    first = open_model(path).graph.node(report.first_divergence.a)
    assert first.op == "Conv" and first.attrs["group"] > 1 and first.shape[2:] == (1, 1)
    assert report.first_divergence.metrics.max_abs > 1


@pytest.mark.slow
def test_mobilenet_v2_agrees_in_the_reference_evaluator(real_corpus):
    path = real_corpus.export("mobilenet_v2", "onnx_dynamo")
    report = parity.compare(path, path, b_backend="onnxref",
                            inputs=real_corpus.inputs("mobilenet_v2"))
    assert report.ok, report.first_divergence


@pytest.fixture(scope="session")
def resnet_ir(real_corpus, tmp_path_factory):
    ov = pytest.importorskip("openvino")
    import realmodels
    import torch

    inputs = real_corpus.inputs("resnet")
    example = torch.from_numpy(next(iter(inputs.values())))
    path = tmp_path_factory.mktemp("resnet_ir") / "resnet.xml"
    converted = ov.convert_model(realmodels.build("resnet", "small"), example_input=example,
                                 input=[tuple(example.shape)])
    ov.save_model(converted, str(path), compress_to_fp16=False)
    return path


@pytest.mark.slow
def test_resnet_onnx_vs_openvino_ir_from_torch(real_corpus, resnet_ir):
    report = parity.compare(real_corpus.export("resnet", "onnx_legacy"), resnet_ir,
                            inputs=real_corpus.inputs("resnet"))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95


@pytest.mark.slow
def test_resnet_pt_vs_openvino_ir_from_torch(real_corpus, resnet_ir):
    report = parity.compare(real_corpus.export("resnet", "pt"), resnet_ir,
                            inputs=real_corpus.inputs("resnet"))
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("source", ["pt", "onnx_legacy"])
def test_resnet_vs_tflite_from_litert_torch(real_corpus, tmp_path_factory, source):
    pytest.importorskip("ai_edge_litert")
    litert_torch = pytest.importorskip("litert_torch")
    import realmodels
    import torch

    inputs = real_corpus.inputs("resnet")
    path = tmp_path_factory.getbasetemp() / "resnet.tflite"
    if not path.exists():
        example = (torch.from_numpy(next(iter(inputs.values()))),)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            litert_torch.convert(realmodels.build("resnet", "small"), example).export(str(path))
    report = parity.compare(real_corpus.export("resnet", source), path, inputs=inputs)
    assert report.ok, report.first_divergence
    assert report.coverage[1] >= 0.95 and report.coverage[0] >= 0.9
