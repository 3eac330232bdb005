"""Capture of modules torch.fx cannot trace (an eager pass) and of torch's fused
transformer fast path (disabled while capturing, so every layer shows its intermediates)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity[torch] not installed")

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402

ENCODER = '''
import torch


class Classifier(torch.nn.Module):
    """torch.fx alone would keep the encoder as one opaque op."""

    def __init__(self):
        super().__init__()
        layer = torch.nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32,
                                                 batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, num_layers=2,
                                                   enable_nested_tensor=False)
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.encoder(x))


def build():
    torch.manual_seed(0)
    return Classifier().eval()
'''

BRANCHY = '''
import torch


class Branchy(torch.nn.Module):
    """Data-dependent control flow (torch.fx cannot trace it), functional ops and in-place
    ops on values parity keeps."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.act = torch.nn.ReLU(inplace=True)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        y = self.bn(self.conv(x))
        y += 0.5  # overwrites the BatchNorm's output
        y = self.act(y)  # and again
        if x.mean() > 0:  # decided by the values
            y = torch.sigmoid(y) * 2
        return self.head(y.mean(dim=(2, 3)))


def build():
    return Branchy().eval()
'''


def _factory(tmp_path: Path, source: str) -> str:
    path = tmp_path / "net.py"
    path.write_text(source, encoding="utf-8")
    return f"{path}:build"


def test_transformer_encoder_layers_have_their_intermediates(tmp_path):
    """With the fused fast path on, each layer would be one opaque op and its submodules
    would never run; parity turns it off for the pass."""
    spec = _factory(tmp_path, ENCODER)
    backend = open_model(spec)
    x = np.random.default_rng(0).standard_normal((1, 5, 16)).astype(np.float32)
    feeds = {backend.graph.inputs[0].name: x}
    backend.observe(feeds)
    names = [node.name for node in backend.graph]
    for layer in (0, 1):
        inside = {n for n in names if n.startswith(f"encoder.layers.{layer}")}
        assert {f"encoder.layers.{layer}.{part}" for part in
                ("self_attn", "linear1", "linear2", "norm1", "norm2")} <= inside, names
        assert {f"encoder.layers.{layer}/add", f"encoder.layers.{layer}/relu"} <= inside
    assert not any("transformer_encoder_layer_fwd" in node.op for node in backend.graph)
    values = backend.run(feeds, names)
    assert all(np.isfinite(v).all() for v in values.values())
    assert values["encoder.layers.0.linear1"].shape == (1, 5, 32)
    assert torch.backends.mha.get_fastpath_enabled()  # restored after the capture
    module = _module(spec)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(values[backend.graph.outputs[0]], expected, atol=1e-5, rtol=1e-5)


def _module(spec: str) -> torch.nn.Module:
    import importlib.util

    path, name = spec.rsplit(":", 1)
    loaded = importlib.util.spec_from_file_location("encoder_factory", path)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return getattr(module, name)()


def test_module_with_data_dependent_control_flow_is_recorded_op_by_op(tmp_path):
    spec = _factory(tmp_path, BRANCHY)
    backend = open_model(spec)
    assert [n.name for n in backend.graph][:3] == ["conv", "bn", "act"]  # the module tree
    x = np.abs(np.random.default_rng(1).standard_normal((1, 3, 8, 8))).astype(np.float32)
    feeds = {"x": x}
    calls = []
    backend._capture.module.register_forward_pre_hook(lambda *_: calls.append(1))
    backend.observe(feeds)
    graph = backend.graph
    assert [n.name for n in graph] == ["conv", "bn", "add_", "act", "mean", "gt", "sigmoid",
                                       "mul", "mean:1", "head"]
    assert graph.node("add_").inputs == ("bn",)
    assert graph.node("mul").inputs == ("sigmoid",)
    assert graph.node("head").inputs == ("mean:1",)
    assert graph.node("conv").attrs["pad"] == (1, 1)
    assert graph.outputs == ("head",)
    values = backend.run(feeds, ["conv", "bn", "add_", "act", "mul", "head"])
    assert len(calls) == 1  # the pass that recorded the graph gave the values
    module = _module(spec)
    with torch.no_grad():
        bn = module.bn(module.conv(torch.from_numpy(x)))
        expected = module(torch.from_numpy(x))
    np.testing.assert_allclose(values["bn"], bn.numpy(), atol=1e-6)  # before the += 0.5
    np.testing.assert_allclose(values["add_"], bn.numpy() + 0.5, atol=1e-6)
    np.testing.assert_allclose(values["act"], np.maximum(bn.numpy() + 0.5, 0), atol=1e-6)
    np.testing.assert_allclose(values["head"], expected.numpy(), atol=1e-6)
    again = backend.run({"x": x + 0.1}, ["mul"])  # a new input: a new pass, same path
    assert len(calls) == 2 and again["mul"].shape == (1, 4, 8, 8)
    with pytest.raises(parity.ParityError, match="another path"):
        backend.run({"x": -x}, ["head"])
    traced = tmp_path / "branchy.pt"
    torch.jit.trace(module, torch.from_numpy(x)).save(str(traced))
    report = parity.compare(spec, traced, inputs=x)
    assert report.ok and min(report.coverage) >= 0.95, report.pairs
    assert {"conv", "bn", "act", "mul", "head"} <= {p.a for p in report.pairs}


pytest.importorskip("transformers", reason="the test extra (transformers) is not installed")


@pytest.mark.slow
def test_transformers_bert_factory_is_recorded_op_by_op(real_corpus):
    spec = real_corpus.export("bert", "factory")
    backend = open_model(spec)
    backend.observe(real_corpus.inputs("bert"))
    names = {node.name for node in backend.graph}
    for layer in (0, 1):
        scope = f"model.encoder.layer.{layer}.attention"
        assert {f"{scope}.self.query", f"{scope}.self/scaled_dot_product_attention",
                f"{scope}.output/add", f"model.encoder.layer.{layer}.output.LayerNorm"} <= names
    report = parity.compare(backend, real_corpus.export("bert", "pt2"),
                            inputs=real_corpus.inputs("bert"))
    last = [p for p in report.pairs if p.a == "model.encoder.layer.1.output.LayerNorm"]
    assert last and last[0].status == "ok", report.pairs
    assert len(report.pairs) >= 40
    assert all(p.status == "ok" for p in report.pairs)


@pytest.mark.slow
def test_relu6_lost_in_conversion_is_found_on_a_recorded_factory(real_corpus, tmp_path):
    """The recorded ops carry the attributes diagnosis reads: MobileNetV2 (which torch.fx
    cannot trace) against its export with ReLU6 turned into ReLU."""
    import realmodels
    from realmodels import torch_forms

    from conftest import exact_hint

    model = realmodels.build("mobilenet_v2")
    for name, child in list(model.named_modules()):
        if isinstance(child, torch.nn.ReLU6):
            model.get_submodule(name.rsplit(".", 1)[0]).register_module(
                name.rsplit(".", 1)[1], torch.nn.ReLU())
    broken = torch_forms.onnx(model, real_corpus.inputs("mobilenet_v2"),
                              tmp_path / "relu.onnx", dynamo=False)
    report = parity.compare(real_corpus.export("mobilenet_v2", "factory"), broken,
                            inputs=real_corpus.inputs("mobilenet_v2"))
    hint = exact_hint(report, "activation_changed")
    assert hint.node == report.first_divergence.a
    assert hint.node.endswith(".activation") and "[0, 6]" in hint.message
