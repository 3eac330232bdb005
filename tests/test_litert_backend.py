"""LiteRT/TFLite models made by the real converter (litert_torch.convert) from a torch
module, against the module's TorchScript: `parity compare model.pt model.tflite`, and the
float ONNX export against the .tflite."""

import numpy as np
import pytest
import torch

pytest.importorskip("ai_edge_litert", reason="parity[tflite] not installed")
litert_torch = pytest.importorskip("litert_torch", reason="litert-torch (test extra) missing")
import deploy_models  # noqa: E402

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402
from parity.errors import ModelLoadError  # noqa: E402


def _tflite(model, path):
    example = (torch.from_numpy(deploy_models.example()),)
    litert_torch.convert(model, example).export(str(path))
    return path


@pytest.fixture(scope="session")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("litert")
    model = deploy_models.build()
    wrong_eps = deploy_models.build()
    wrong_eps.bn.eps = 1e-2  # the converted model's BatchNorm lost its eps
    return {
        "pt": deploy_models.torchscript(model, folder / "model.pt"),
        "onnx": deploy_models.export_onnx(model, folder / "model.onnx"),
        "tflite": _tflite(model, folder / "model.tflite"),
        "bad": _tflite(wrong_eps, folder / "bad.tflite"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("source", ["pt", "onnx"])
def test_source_vs_converted_tflite_agrees(pairs, source):
    code, found = deploy_models.cli_compare(pairs[source], pairs["tflite"])
    assert code == 0, found["first_divergence"]
    assert deploy_models.coverage(found) == 1.0, (found["unmatched_a"], found["unmatched_b"])
    report = parity.compare(pairs[source], pairs["tflite"], inputs=deploy_models.example())
    assert report.ok and report.coverage == (1.0, 1.0)
    tflite = open_model(pairs["tflite"]).graph
    pooled = next(p for p in report.pairs if "avg" in p.a.lower())
    assert tflite.op_of(pooled.b) == "AVERAGE_POOL_2D"  # not the TRANSPOSE after it


@pytest.mark.slow
def test_a_lost_eps_is_found_at_the_fused_conv_through_the_cli(pairs):
    code, found = deploy_models.cli_compare(pairs["onnx"], pairs["bad"])
    assert code == 1 and deploy_models.coverage(found) == 1.0
    assert found["first_divergence"]["a"] == "/relu/Relu", found["first_divergence"]


@pytest.mark.slow
def test_a_lost_eps_is_found_at_the_fused_conv(pairs):
    report = parity.compare(pairs["pt"], pairs["bad"], inputs=deploy_models.example())
    assert not report.ok
    first = report.first_divergence
    assert first.a in ("bn", "relu"), first  # BatchNorm and ReLU are fused into the conv
    assert open_model(pairs["bad"]).graph.op_of(first.b) == "CONV_2D"


def test_graph_layout_options_and_parameters(pairs):
    model = open_model(pairs["tflite"])
    assert model.name == "tflite"
    convs = [n for n in model.graph if n.op == "CONV_2D"]
    assert convs[0].attrs["layout"] == "NHWC" and convs[0].attrs["activation"] == "RELU"
    assert convs[0].scope == "relu"  # the outermost of the fused module locations
    # the converter's NCHW<->NHWC transposes are plumbing; the flatten says its order
    assert "TRANSPOSE" not in {n.op for n in model.graph}
    flatten = next(n for n in model.graph if n.op == "RESHAPE")
    assert flatten.attrs["flatten_order"] == "NCHW"
    assert model.graph.op_of(flatten.inputs[0]) == "AVERAGE_POOL_2D"
    depthwise = next(n for n in model.graph if n.op == "DEPTHWISE_CONV_2D")
    assert depthwise.scope == "depthwise"
    params = model.parameters(depthwise.name)
    source = deploy_models.build().depthwise
    np.testing.assert_allclose(params["weight"], source.weight.detach().numpy(), atol=1e-6)
    values = model.run({model.graph.inputs[0].name: deploy_models.example()},
                       [n.name for n in model.graph])
    assert len(values) == len(model.graph)  # every node from one invoke()


def test_not_a_flatbuffer_names_the_file(tmp_path):
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"\x08\x07\x12\x04" + b"\xff" * 16)
    with pytest.raises(ModelLoadError, match=r"fake.tflite: named .tflite but is not a TFLite "
                                             r"flatbuffer .*looks like an ONNX model"):
        open_model(fake)


@pytest.fixture(scope="session")
def int8_tflite(pairs):
    """The float .tflite quantized by ai-edge-quantizer (int8 weights and activations),
    calibrated on eight seeded images."""
    aeq = pytest.importorskip("ai_edge_quantizer", reason="ai-edge-quantizer (litert-torch)")
    quantizer = aeq.quantizer.Quantizer(str(pairs["tflite"]), aeq.recipe.static_wi8_ai8())
    signature = open_model(pairs["tflite"]).interpreter.get_signature_list()
    key = next(iter(signature))
    name = signature[key]["inputs"][0]
    calibration = quantizer.calibrate(
        {key: [{name: deploy_models.example(seed)} for seed in range(8)]})
    path = pairs["tflite"].with_name("model_int8.tflite")
    quantizer.quantize(calibration, serialize_to_path=str(path))
    return path


@pytest.mark.slow
def test_int8_tflite_within_quantization_noise(pairs, int8_tflite):
    model = open_model(int8_tflite)
    assert all(node.attrs.get("quant_step", 0) > 0 for node in model.graph)
    report = parity.compare(pairs["pt"], int8_tflite, inputs=deploy_models.example(100))
    assert report.ok, report.first_divergence
    assert report.coverage[0] == 1.0
    assert any(p.verdict.rule == "numerics int8" for p in report.pairs if p.verdict)


@pytest.mark.slow
def test_int8_saturation_is_found_at_the_layer_that_clips(pairs, int8_tflite):
    """A logit beyond the range calibration saw is clipped to the int8 grid's end."""
    report = parity.compare(pairs["pt"], int8_tflite, inputs=deploy_models.example(102))
    assert not report.ok
    assert report.first_divergence.a == "fc"
