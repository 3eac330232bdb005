"""The foundation's end-to-end scenario: a torch model vs its ONNX export, on real frameworks."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FIXTURES, trained_smallcnn

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
ort = pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402

ONNX = FIXTURES / "smallcnn.onnx"
BAD = FIXTURES / "smallcnn_bad_eps.onnx"
SCRIPT = FIXTURES / "smallcnn.pt"
FACTORY = f"{FIXTURES / 'smallcnn.py'}:build"
STATE = FIXTURES / "smallcnn_state.pt"
CONV_LAYERS = 7


def test_onnx_vs_torchscript_every_layer_aligned_and_within_tolerance():
    report = parity.compare(ONNX, SCRIPT, seed=0)
    assert report.ok
    assert report.unmatched_a == report.unmatched_b == ()
    assert len(report.pairs) == 25  # 24 layers and the input
    assert max(p.metrics.max_abs for p in report.pairs) <= 1e-5


def test_bad_eps_conversion_names_the_changed_batchnorm():
    report = parity.compare(BAD, SCRIPT, seed=0)
    assert not report.ok
    first = report.first_divergence
    assert (first.a, first.b) == ("/layer2/layer2.0/bn2/BatchNormalization", "layer2.0.bn2")
    assert first.metrics.max_abs > 1e-3
    earlier = report.pairs[: report.pairs.index(first)]
    assert all(not p.failed for p in earlier)


def test_factory_with_weights_matches_onnx():
    report = parity.compare(open_model(FACTORY, STATE), ONNX, seed=0)
    assert report.ok and report.unmatched_a == ()
    names = [p.a for p in report.pairs]
    assert {"layer1.0.conv1", "layer1.0/add", "layer1.0.relu:1", "cat", "flatten", "fc"} <= set(
        names)


def test_torch_export_program(tmp_path):
    model = trained_smallcnn()
    program = torch.export.export(model, (torch.zeros(1, 3, 32, 32),))
    path = tmp_path / "smallcnn.pt2"
    torch.export.save(program, str(path))
    backend = open_model(path)
    assert backend.graph.inputs[0].shape == (1, 3, 32, 32)
    report = parity.compare(backend, ONNX, seed=0)
    assert report.ok and report.unmatched_a == ()


def test_graph_description_attributes():
    onnx_graph = open_model(ONNX).graph
    bn = onnx_graph.node("/layer2/layer2.0/bn2/BatchNormalization")
    assert bn.attrs["eps"] == pytest.approx(1e-5)
    assert onnx_graph.node("/layer1/layer1.0/conv1/Conv").attrs["kernel"] == (3, 3)
    assert onnx_graph.node("/maxpool/MaxPool").attrs["ceil_mode"] is False
    assert open_model(BAD).graph.node(bn.name).attrs["eps"] == pytest.approx(0.1)

    script_graph = open_model(SCRIPT).graph
    conv = script_graph.node("layer1.0.conv1")
    assert conv.attrs["stride"] == (1, 1) and conv.attrs["group"] == 1
    assert script_graph.node("layer2.0.bn2").attrs["eps"] == pytest.approx(1e-5)
    assert script_graph.node("layer1.0/add").inputs == ("layer1.0.bn2", "maxpool")


def test_every_layer_comes_from_one_forward_pass(monkeypatch):
    onnx_model, script_model = open_model(ONNX), open_model(SCRIPT)
    runs = []
    original = ort.InferenceSession.run_with_ort_values

    def counting_run(self, *args, **kwargs):
        runs.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "run_with_ort_values", counting_run)
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    onnx_values = onnx_model.run({"input": x}, [n.name for n in onnx_model.graph])
    assert len(runs) == 1 and len(onnx_values) == len(onnx_model.graph)

    with torch.autograd.profiler.profile() as profile:
        script_values = script_model.run({"x": x}, [n.name for n in script_model.graph])
    convolutions = [e for e in profile.function_events if e.name == "aten::_convolution"]
    assert len(convolutions) == CONV_LAYERS
    assert len(script_values) == len(script_model.graph)


def test_factory_model_runs_once_and_is_put_in_eval_mode():
    backend = open_model(FACTORY, STATE)
    calls = []
    backend._capture.graph_module.get_submodule("conv1").register_forward_hook(
        lambda *args: calls.append(1))
    x = np.zeros((1, 3, 32, 32), np.float32)
    backend.run({"x": x}, [n.name for n in backend.graph])
    assert calls == [1]
    assert not backend._capture.graph_module.training


def test_inplace_relu_does_not_overwrite_the_captured_batchnorm_output():
    backend = open_model(SCRIPT)
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    values = backend.run({"x": x}, ["bn1", "relu"])
    assert (values["bn1"] < 0).any()
    np.testing.assert_array_equal(values["relu"], np.maximum(values["bn1"], 0))


def test_open_batch_dimension_reads_as_one(tmp_path):
    import warnings

    model = trained_smallcnn()
    path = tmp_path / "dynamic.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})
    assert open_model(path).graph.inputs[0].shape == (None, 3, 32, 32)
    report = parity.compare(path, SCRIPT, seed=0)
    assert report.ok and "input (1, 3, 32, 32)" in report.a.inputs
