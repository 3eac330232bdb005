"""Each piece of a split is a node of its own: TorchScript's ``chunk`` (unpacked from its
list), torch.export's ``split_with_sizes`` (taken out by ``getitem``), the legacy exporter's
Slices and the dynamo exporter's one Split with three outputs.

GPT-NeoX cuts q, k and v from one projection and then slices each for its partial rotary
embedding; with a split seen as one node (its first piece), the slices of k and v hung from
q, and the alignment paired q's slices with k's (tests/test_real_corpus.py runs GPT-NeoX
itself). Here a small block of the same shape, every form against every other.
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


class _Pieces(torch.nn.Module):
    """A fused projection chunked into q, k and v; q and k each sliced in two, as partial
    rotary embeddings do, and every piece used in its own way."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = torch.nn.Linear(8, 24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = torch.cat([q[..., :2] * 2.0, q[..., 2:]], dim=-1)
        k = torch.cat([torch.tanh(k[..., :2]), k[..., 2:]], dim=-1)
        return q * k - torch.sigmoid(v)


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pieces")
    torch.manual_seed(0)
    model, x = _Pieces().eval(), torch.randn(1, 5, 8)
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


def _pieces(path: Path) -> list[str]:
    graph = open_model(path).graph
    return [n.name for n in graph.nodes if n.op.rsplit("::", 1)[-1].lower() in
            ("chunk", "split", "split_with_sizes")]


@pytest.mark.parametrize("form", ["pt", "pt2", "dynamo.onnx"])
def test_every_piece_is_a_node(forms: dict[str, Path], form: str) -> None:
    assert len(_pieces(forms[form])) == 3


def test_a_split_names_its_further_outputs_after_itself(forms: dict[str, Path]) -> None:
    first, *rest = _pieces(forms["dynamo.onnx"])
    assert rest == [f"{first}:1", f"{first}:2"]


@pytest.mark.parametrize("form_a, form_b", [
    ("pt", "legacy.onnx"), ("pt", "dynamo.onnx"), ("pt2", "legacy.onnx"),
    ("pt2", "dynamo.onnx"), ("legacy.onnx", "dynamo.onnx")])
def test_pieces_pair_one_to_one(forms: dict[str, Path], form_a: str, form_b: str) -> None:
    x = np.load(forms["pt"].parent / "x.npy")
    report = compare(forms[form_a], forms[form_b], inputs={"x": x})
    assert report.ok and min(report.coverage) == 1.0
    pieces = set(_pieces(forms[form_a])) if form_a != "legacy.onnx" else set()
    paired = {p.a: p.b for p in report.pairs}
    assert pieces <= paired.keys()
    assert len({paired[p] for p in pieces}) == len(pieces)
    # each slice of a piece reads that piece's partner, not the first piece's
    for pair in report.pairs:
        if pair.op.rsplit("::", 1)[-1].lower() == "slice" and pair.metrics is not None:
            assert pair.metrics.max_abs <= 1e-6
