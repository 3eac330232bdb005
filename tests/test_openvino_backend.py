"""OpenVINO IR made by the real converter (openvino.convert_model + save_model) from a
torch module, against the TorchScript of the same module: `parity compare model.pt
model.xml`."""

import numpy as np
import pytest
import torch

ov = pytest.importorskip("openvino", reason="parity[openvino] not installed")
import deploy_models  # noqa: E402

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402
from parity.errors import ModelLoadError  # noqa: E402


def _ir(model, path, compress=False):
    """``openvino.convert_model`` of the torch module, weights kept f32 (or compressed to
    f16, ``save_model``'s default)."""
    example = torch.from_numpy(deploy_models.example())
    converted = ov.convert_model(model, example_input=example, input=[deploy_models.SHAPE])
    ov.save_model(converted, str(path), compress_to_fp16=compress)
    return path


@pytest.fixture(scope="session")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("openvino")
    model = deploy_models.build()
    wrong_eps = deploy_models.build()
    wrong_eps.bn.eps = 1e-2  # the converted model's BatchNorm lost its eps
    return {
        "pt": deploy_models.torchscript(model, folder / "model.pt"),
        "xml": _ir(model, folder / "model.xml"),
        "bad_xml": _ir(wrong_eps, folder / "bad.xml"),
        "f16_xml": _ir(model, folder / "f16.xml", compress=True),
    }


@pytest.mark.slow
def test_torchscript_vs_converted_ir_agrees(pairs):
    code, found = deploy_models.cli_compare(pairs["pt"], pairs["xml"])
    assert code == 0, found["first_divergence"]
    assert deploy_models.coverage(found) >= 0.95, (found["unmatched_a"], found["unmatched_b"])
    report = parity.compare(pairs["pt"], pairs["xml"], inputs=deploy_models.example())
    assert report.ok and min(report.coverage) >= 0.95


@pytest.mark.slow
def test_a_lost_eps_is_found_at_the_batchnorm(pairs):
    code, found = deploy_models.cli_compare(pairs["pt"], pairs["bad_xml"])
    assert code == 1 and deploy_models.coverage(found) >= 0.95
    assert found["first_divergence"]["a"] == "bn", found["first_divergence"]


def test_graph_ops_attributes_and_parameters(pairs):
    model = open_model(pairs["xml"])
    assert model.name == "openvino"
    ops = {node.op for node in model.graph}
    assert {"Convolution", "GroupConvolution", "MaxPool", "AvgPool", "MatMul"} <= ops
    depthwise = next(n for n in model.graph if n.op == "GroupConvolution")
    assert depthwise.attrs["group"] == 8 and depthwise.attrs["pad"] == (1, 1, 1, 1)
    assert depthwise.scope == "depthwise"
    params = model.parameters(depthwise.name)
    source = deploy_models.build().depthwise
    np.testing.assert_allclose(params["weight"], source.weight.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(params["bias"], source.bias.detach().numpy(), atol=1e-6)
    values = model.run({model.graph.inputs[0].name: deploy_models.example()},
                       [n.name for n in model.graph])
    assert len(values) == len(model.graph)


def test_ir_without_its_bin_names_the_file(pairs, tmp_path):
    lonely = tmp_path / "lonely.xml"
    lonely.write_bytes(pairs["xml"].read_bytes())
    with pytest.raises(ModelLoadError, match=r"lonely.xml: no weights: lonely.bin not found"):
        open_model(lonely)


@pytest.mark.slow
def test_weights_compressed_to_f16_are_judged_with_their_rounding(pairs):
    kept, compressed = open_model(pairs["xml"]).graph, open_model(pairs["f16_xml"]).graph
    assert not any("stored_dtype" in n.attrs for n in kept)
    stored = {n.op for n in compressed if n.attrs.get("stored_dtype") == "float16"}
    assert {"Convolution", "GroupConvolution", "MatMul"} <= stored
    report = parity.compare(pairs["pt"], pairs["f16_xml"], inputs=deploy_models.example())
    assert report.ok and min(report.coverage) >= 0.95, report.first_divergence
    rules = {p.b: p.verdict.rule for p in report.pairs if p.verdict is not None}
    assert {rules[n.name] for n in compressed if n.name in rules
            and "stored_dtype" in n.attrs} == {"numerics f16 weights"}
    # the conv's error is float16's rounding of its weights, far beyond float32's
    conv = next(p for p in report.pairs if p.a == "conv")
    assert conv.verdict.error > 1e3 * 2.0 ** -24


def test_constant_inputs_are_read_as_attributes(tmp_path):
    class Attention(torch.nn.Module):
        def forward(self, q, k):
            k = k.transpose(1, 2)
            return (q @ k.transpose(-2, -1) + 1.0)[..., :3], q[..., 2:]

    q, k = torch.rand(1, 2, 4, 5), torch.rand(1, 4, 2, 5)
    converted = ov.convert_model(Attention(), example_input=(q, k))
    ov.save_model(converted, str(tmp_path / "m.xml"))
    graph = open_model(tmp_path / "m.xml").graph
    # the converter merges the two transposes into one
    assert [n.attrs.get("perm") for n in graph if n.op == "Transpose"] == [(0, 2, 3, 1)]
    cuts = sorted((n.attrs["starts"], n.attrs["ends"]) for n in graph
                  if n.op in ("Slice", "StridedSlice"))
    assert [c[0][-1] for c in cuts] == [0, 2] and cuts[0][1][-1] == 3
    # the scores' MatMul (two activations) keeps the constant it adds a node of its own
    assert any(n.op == "Add" for n in graph)
