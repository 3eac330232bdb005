"""A QDQ int8 ONNX made by onnxruntime's quantizer against its float source: aligned through
QuantizeLinear/DequantizeLinear, judged against each tensor's quantization step."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

quantization = pytest.importorskip("onnxruntime.quantization", reason="parity[onnx] missing")
import deploy_models  # noqa: E402

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402
from parity.quantized import STEP, quantization_noise  # noqa: E402


class _Calibration(quantization.CalibrationDataReader):
    """Eight seeded random images, the quantizer's calibration set."""

    def __init__(self) -> None:
        self.batches = iter([{"input": deploy_models.example(seed)} for seed in range(8)])

    def get_next(self):
        return next(self.batches, None)


def _quantize(source, target):
    quantization.quantize_static(
        str(source), str(target), _Calibration(), quant_format=quantization.QuantFormat.QDQ,
        activation_type=quantization.QuantType.QInt8, weight_type=quantization.QuantType.QInt8)
    return target


def _with_scale(source, target, initializer, factor):
    """A copy of the QDQ model with one weight scale off by ``factor`` (a quantizer bug)."""
    model = onnx.load(str(source))
    for init in model.graph.initializer:
        if init.name == initializer:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(factor),
                                                  init.name))
    onnx.save(model, str(target))
    return target


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quantized")
    float_model = deploy_models.export_onnx(deploy_models.build(), folder / "model.onnx")
    int8 = _quantize(float_model, folder / "model_int8.onnx")
    return {"float": float_model, "int8": int8,
            "bad": _with_scale(int8, folder / "bad_int8.onnx", "depthwise.weight_scale", 1.1)}


def test_the_view_hides_qdq_pairs_and_keeps_the_steps(models):
    model = open_model(models["int8"])
    ops = [node.op for node in model.graph]
    assert "QuantizeLinear" not in ops and "DequantizeLinear" not in ops
    conv = model.graph.node("/conv/Conv")
    assert conv.attrs[STEP] > 0 and quantization_noise(model.graph, "/conv/Conv") == (
        conv.attrs[STEP] / 2)
    assert model.graph.node("/Add").inputs == ("/conv/Conv", "/pool/MaxPool")
    values = model.run({"input": deploy_models.example(5)}, ["/conv/Conv"])
    grid = values["/conv/Conv"] / conv.attrs[STEP]  # the DQ value: on the int8 grid
    np.testing.assert_allclose(grid, np.round(grid), atol=1e-3)


@pytest.mark.parametrize("seed", [100, 101, 102])
def test_float_vs_int8_agrees_within_quantization_noise(models, seed):
    report = parity.compare(models["float"], models["int8"],
                            inputs=deploy_models.example(seed))
    assert report.ok, report.first_divergence
    assert report.coverage == (1.0, 1.0)
    assert any(p.verdict.rule == "numerics int8" for p in report.pairs if p.verdict)


def test_a_wrong_weight_scale_is_found_at_its_layer(models):
    report = parity.compare(models["float"], models["bad"], inputs=deploy_models.example(100))
    assert not report.ok
    assert report.first_divergence.a == "/depthwise/Conv"


def test_cli_float_vs_int8(models):
    code, found = deploy_models.cli_compare(models["float"], models["int8"])
    assert code == 0 and deploy_models.coverage(found) == 1.0, found["first_divergence"]
    code, found = deploy_models.cli_compare(models["float"], models["bad"])
    assert code == 1 and deploy_models.coverage(found) == 1.0
    assert found["first_divergence"]["a"] == "/depthwise/Conv", found["first_divergence"]
