"""Each further output of an op that another op reads is a node of its own (TopK's indices
beside its values: a TorchScript output, torch.export's ``getitem`` of index 1, an ONNX
output ``name:1``), and a TorchScript value an in-place op overwrites later is captured
as it was computed.

A mixture-of-experts router picks its top-k experts and normalises their weights in place
(``values /= values.sum(-1, keepdim=True)``, which ``_jit_pass_remove_mutation`` leaves):
with TopK seen as one node the weights and the expert ids paired crosswise, and
TorchScript's captured values came back divided (tests/test_real_corpus.py runs Mixtral
itself). Here a small router of the same shape, every form against every other.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")

from parity.api import compare, open_model  # noqa: E402

FORMS = ("pt", "pt2", "legacy.onnx", "dynamo.onnx")


class _Router(torch.nn.Module):
    """Top-2 of 4 experts per token, weights normalised in place, each token's two experts'
    tables gathered by id and weighted."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = torch.nn.Linear(8, 4, bias=False)
        self.tables = torch.nn.Parameter(torch.randn(4, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(self.gate(x), dim=-1)
        weights, experts = torch.topk(probs, 2, dim=-1)
        weights /= weights.sum(dim=-1, keepdim=True)
        return (self.tables[experts] * weights[..., None]).sum(dim=-2) + x


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("router")
    torch.manual_seed(0)
    model, x = _Router().eval(), torch.randn(1, 6, 8)
    paths = {form: folder / f"model.{form}" for form in FORMS}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.trace(model, (x,)).save(str(paths["pt"]))
        torch.export.save(torch.export.export(model, (x,)), str(paths["pt2"]))
        torch.onnx.export(model, (x,), str(paths["legacy.onnx"]), dynamo=False,
                          input_names=["x"], opset_version=17)
        torch.onnx.export(model, (x,), str(paths["dynamo.onnx"]), input_names=["x"])
    np.save(folder / "x.npy", x.numpy())
    return paths


def _topk(path: Path) -> list[str]:
    return [n.name for n in open_model(path).graph.nodes
            if n.op.rsplit("::", 1)[-1].lower().split(".")[0] == "topk"]


@pytest.mark.parametrize("form", FORMS)
def test_topk_values_and_indices_are_two_nodes(forms: dict[str, Path], form: str) -> None:
    assert len(_topk(forms[form])) == 2


@pytest.mark.parametrize("form_a, form_b", [
    ("pt", "legacy.onnx"), ("pt", "dynamo.onnx"), ("pt2", "legacy.onnx"),
    ("pt2", "dynamo.onnx"), ("legacy.onnx", "dynamo.onnx")])
def test_values_and_indices_pair_with_theirs(forms: dict[str, Path], form_a: str,
                                             form_b: str) -> None:
    x = np.load(forms["pt"].parent / "x.npy")
    report = compare(forms[form_a], forms[form_b], inputs={"x": x})
    assert report.ok and min(report.coverage) == 1.0
    paired = {p.a: p for p in report.pairs}
    values, indices = _topk(forms[form_a])
    assert (paired[values].b, paired[indices].b) == tuple(_topk(forms[form_b]))
    # the values as TopK computed them (before the in-place division), on both sides
    assert paired[values].metrics.max_abs <= 1e-6
    assert paired[indices].metrics.max_abs == 0.0
