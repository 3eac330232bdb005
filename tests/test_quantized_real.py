"""QDQ int8 ONNX of a real MobileNetV2 (transformers, small config, random BatchNorm
statistics) against its float source, from exports that keep BatchNorm.

The TorchScript exporter with ``training=PRESERVE`` keeps each BatchNorm and its ReLU6 as
a ``Clip`` with constant bounds; onnxruntime's quantizer then removes the Clip and folds it
into the BatchNorm output's grid (its range starts at 0). The dynamo exporter unoptimised
(``optimize=False``) keeps BatchNorm too, with the Clip bounds computed in the graph, so
the quantizer keeps the Clip. A correct quantization passes in both; a grid scale written
0.3x too small is found at its BatchNorm, as saturation.
"""

import json
import warnings

import numpy as np
import pytest

quantization = pytest.importorskip("onnxruntime.quantization", reason="parity[onnx] missing")
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

import parity  # noqa: E402

BN = "BatchNormalization"


class _Calibration(quantization.CalibrationDataReader):
    """Eight corpus images (seeds 1-8), the quantizer's calibration set."""

    def __init__(self, corpus) -> None:
        self.batches = iter([corpus.inputs("mobilenet_v2", seed=seed) for seed in range(1, 9)])

    def get_next(self):
        return next(self.batches, None)


def _export(path, *, dynamo):
    import realmodels
    import torch

    model = realmodels.build("mobilenet_v2", "small")
    example = (torch.from_numpy(realmodels.inputs("mobilenet_v2", "small")["pixel_values"]),)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model, example, str(path), input_names=["pixel_values"],
                              dynamo=True, optimize=False, verbose=False)
        else:
            torch.onnx.export(model, example, str(path), input_names=["pixel_values"],
                              dynamo=False, opset_version=17,
                              training=torch.onnx.TrainingMode.PRESERVE)
    return path


def _narrowed(source, target, index, factor=0.3):
    """A copy with the grid scale after the ``index``-th BatchNorm times ``factor``; the
    BatchNorm's name."""
    proto = onnx.load(str(source))
    produced = {out: node for node in proto.graph.node for out in node.output}
    after_bn = [n for n in proto.graph.node if n.op_type == "QuantizeLinear"
                and n.input[0] in produced and produced[n.input[0]].op_type == BN]
    scale = next(i for i in proto.graph.initializer if i.name == after_bn[index].input[1])
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * np.float32(factor),
                                           scale.name))
    onnx.save(proto, str(target))
    return produced[after_bn[index].input[0]].name


@pytest.fixture(scope="session")
def bn_kept(real_corpus, tmp_path_factory):
    """``export -> (float, int8)`` for the TorchScript (``preserve``) and dynamo exports."""
    folder = tmp_path_factory.mktemp("quantized_real")
    found = {}
    for export, dynamo in (("preserve", False), ("dynamo", True)):
        source = _export(folder / f"{export}.onnx", dynamo=dynamo)
        int8 = folder / f"{export}_int8.onnx"
        quantization.quantize_static(
            str(source), str(int8), _Calibration(real_corpus),
            quant_format=quantization.QuantFormat.QDQ,
            activation_type=quantization.QuantType.QInt8,
            weight_type=quantization.QuantType.QInt8)
        found[export] = (source, int8)
    return found


def _ops(path):
    return {node.op_type for node in onnx.load(str(path)).graph.node}


@pytest.mark.slow
@pytest.mark.parametrize("export", ["preserve", "dynamo"])
def test_bn_kept_int8_agrees_with_its_float_source(bn_kept, real_corpus, export):
    source, int8 = bn_kept[export]
    assert BN in _ops(int8)
    assert ("Clip" in _ops(int8)) == (export == "dynamo")  # folded into the grid, or kept
    for seed in (0, 100):
        report = parity.compare(source, int8, inputs=real_corpus.inputs("mobilenet_v2",
                                                                        seed=seed))
        assert report.ok and not report.hints, (report.first_divergence, report.hints)
        assert report.coverage == (1.0, 1.0)
        worst = max(p.verdict.ratio for p in report.pairs if p.verdict.ratio is not None)
        assert worst < 0.9
    clipped = [p for p in report.pairs if p.how.endswith("+clip")]
    assert len(clipped) == (35 if export == "preserve" else 0)  # every ReLU6
    assert all(p.op == BN for p in clipped)


@pytest.mark.slow
def test_bn_kept_int8_narrow_scale_is_found_at_its_batchnorm(bn_kept, real_corpus, tmp_path):
    """The saturation the grid adds within ReLU6's range is not hidden by the clip: the
    BatchNorm whose scale is 0.3x is the first divergence, exit 1 from the CLI."""
    from click.testing import CliRunner

    from parity.cli import cli

    source, int8 = bn_kept["preserve"]
    narrow = tmp_path / "narrow_int8.onnx"
    layer = _narrowed(int8, narrow, 1)
    inputs = real_corpus.inputs_file("mobilenet_v2")
    result = CliRunner().invoke(cli, ["compare", str(source), str(narrow), "--inputs",
                                      str(inputs), "--format", "json"])
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)
    assert found["first_divergence"]["a"] == layer, found["first_divergence"]
    assert [h["code"] for h in found["hints"]] == ["quant_saturation"]
    assert (found["coverage"]["a"], found["coverage"]["b"]) == (1.0, 1.0)
    code = CliRunner().invoke(cli, ["compare", str(source), str(int8), "--inputs",
                                    str(inputs)]).exit_code
    assert code == 0
