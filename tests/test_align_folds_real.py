"""Decompositions fold on real exports: GPT-2 with the tanh GELU (``gelu_pytorch_tanh``,
one ``aten::gelu`` in torch, Mul/Tanh/Add in the older exporter's graph) and eager
attention exported at opset 12, where a softmax over the last axis stays one Softmax and
one over another axis becomes Transpose -> Softmax -> Transpose."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
transformers = pytest.importorskip("transformers", reason="the test extra is not installed")

from realmodels import feeds  # noqa: E402

from parity.align import align  # noqa: E402
from parity.api import compare, open_model  # noqa: E402
from parity.ops import family  # noqa: E402


def _export(model: Any, example: tuple, folder: Path, opset: int) -> tuple[str, str]:
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.trace(model, example, check_trace=False).save(str(folder / "model.pt"))
        torch.onnx.export(model, example, str(folder / "legacy.onnx"), dynamo=False,
                          opset_version=opset)
    return str(folder / "model.pt"), str(folder / "legacy.onnx")


@pytest.fixture(scope="module")
def gpt2_tanh(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict]:
    """GPT-2 (2 layers, width 32) with the tanh GELU and eager attention, .pt and an
    opset-12 export of the older exporter."""
    import torch
    from realmodels.torch_models import TextModel

    torch.manual_seed(0)
    config = transformers.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                     vocab_size=100, activation_function="gelu_pytorch_tanh",
                                     attn_implementation="eager")
    model = TextModel(transformers.GPT2Model(config)).eval()
    inputs = feeds.tokens(16, 100, seed=0)
    example = tuple(torch.from_numpy(inputs[k]) for k in ("input_ids", "attention_mask"))
    return (*_export(model, example, tmp_path_factory.mktemp("gpt2_tanh"), 12), inputs)


@pytest.mark.slow
def test_tanh_gelu_and_opset_12_softmax_fold_on_gpt2(gpt2_tanh: tuple[str, str, dict]) -> None:
    pt, onnx_path, inputs = gpt2_tanh
    a, b = open_model(pt).graph, open_model(onnx_path).graph
    alignment = align(a, b)
    pairs = {m.a: m.b for m in alignment.pairs}
    gelus = [n.name for n in a.nodes if family(n.op) == "gelu"]
    assert len(gelus) == 2
    for name in gelus:  # the decomposition's end: 0.5 * x * (1 + tanh(...))
        assert b.node(pairs[name]).op == "Mul" and "mlp/act" in pairs[name]
    softmaxes = [n.name for n in a.nodes if family(n.op) == "softmax"]
    assert len(softmaxes) == 2 and all(b.node(pairs[s]).op == "Softmax" for s in softmaxes)
    skipped = {b.node(n).op for n in alignment.skipped_b if "mlp/act" in n}
    assert {"Tanh", "Mul", "Add"} <= skipped
    assert alignment.unmatched_a == alignment.unmatched_b == ()
    report = compare(pt, onnx_path, inputs=inputs)
    assert report.ok and min(report.coverage) >= 0.95, report.first_divergence


@pytest.mark.slow
def test_softmax_over_a_middle_axis_pairs_after_the_transposes(tmp_path: Path) -> None:
    """Opset <= 12 has no Softmax over a chosen axis: the exporter transposes the axis last
    and back. torch's softmax holds the value after the second Transpose."""
    import torch

    class Scores(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.proj(x), dim=1) * 2.0

    torch.manual_seed(0)
    pt, onnx_path = _export(Scores().eval(), (torch.randn(1, 4, 8),), tmp_path, 11)
    a, b = open_model(pt).graph, open_model(onnx_path).graph
    pairs = {m.a: m.b for m in align(a, b).pairs}
    (softmax,) = [n.name for n in a.nodes if family(n.op) == "softmax"]
    assert b.node(pairs[softmax]).op == "Transpose"
    assert b.node(b.node(pairs[softmax]).inputs[0]).op == "Softmax"
    report = compare(pt, onnx_path, input_shape=(1, 4, 8))
    assert report.ok, report.first_divergence
