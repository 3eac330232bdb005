"""Every pair right on the real transformer corpus: BERT, RoBERTa, GPT-2, LLaMA, Phi-3 (its
rotary slices cutting the whole head and nothing), CodeGen (its interleaved rotary's
``stack``), ViT and Swin, TorchScript ``.pt`` and ``torch.export`` ``.pt2`` against both
ONNX exporters, LeViT against the dynamo one, BLOOM's TorchScript against it (a no-op cast
of the mask only TorchScript has); the third-party converter onnx2torch (ViT, ConvNeXt,
Swin: the legacy export's erf-GELU kept as five ops, module names written as ONNX node
names) and the eager-recorded Swin factory against the dynamo export.

Each pair's nodes must come from the same module (both sides record module scopes: torch's
module path, the exporter's node-name or namespace scope, compared without container
names), have ops that may compute one value (compatible, one side's single op ending the
other's decomposition, or a one-op module paired with the output of the other side's
module that computes that op among others), and together cover at least 95% of each side's
comparable nodes. That the paired values agree is asserted by ``test_real_corpus``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
pytest.importorskip("transformers", reason="the test extra (transformers) is not installed")

from parity.align import align  # noqa: E402
from parity.align.scopes import index_free  # noqa: E402
from parity.api import make_feeds, open_model  # noqa: E402
from parity.graph import Graph, Node  # noqa: E402
from parity.ops import FOLDS, compatible, decomposes, family  # noqa: E402

ONNX2TORCH = importlib.util.find_spec("onnx2torch") is not None

# LeViT against the dynamo export only: the legacy one folds its BatchNorms into the convs
# (a pair across two modules, right, but not what this test checks)
CASES = [(model, a, b) for model in ("bert", "roberta", "gpt2", "llama", "phi3", "codegen",
                                     "vit")
         for a in ("pt", "pt2")
         for b in ("onnx_legacy", "onnx_dynamo")] + [("swin", "pt", "onnx_legacy"),
                                                     ("swin", "factory", "onnx_dynamo"),
                                                     ("levit", "pt", "onnx_dynamo"),
                                                     ("levit", "pt2", "onnx_dynamo"),
                                                     ("bloom", "pt", "onnx_dynamo")]
ONNX2TORCH_CASES = [(model, "onnx2torch", "onnx_dynamo") for model in ("vit", "convnext", "swin")]


def wrong_pairs(a: Graph, b: Graph, pairs: list[tuple[str, str]]) -> list[str]:
    """Pairs from different modules, or of ops that cannot hold one value."""
    wrong = []
    for x, y in pairs:
        node_a, node_b = a.node(x), b.node(y)
        if node_a.scope and node_b.scope and index_free(node_a.scope) != index_free(node_b.scope):
            wrong.append(f"{x} ({node_a.scope}) ~ {y} ({node_b.scope}): other module")
        if not (_may_hold_one_value(node_a.op, node_b.op)
                or _module_computes(a, node_a, b, node_b)):
            wrong.append(f"{x} ({node_a.op}) ~ {y} ({node_b.op}): other op")
    return wrong


def _module_computes(a: Graph, node_a: Node, b: Graph, node_b: Node) -> bool:
    """Whether one node is its module's only op and the other side's same module computes
    that op among others (Swin's AdaptiveAvgPool1d: one op in torch, Unsqueeze ->
    ReduceMean -> ... -> Squeeze in the dynamo export)."""
    for one, graph, other in ((node_a, b, node_b), (node_b, a, node_a)):
        if one.scope and other.scope and any(
                n.scope == other.scope and compatible(n.op, one.op) for n in graph.nodes):
            return True
    return False


def _may_hold_one_value(op_a: str, op_b: str) -> bool:
    """Compatible ops, one side's op ending the other's decomposition, or the end of a
    chain the other side folds into its op (a Linear's bias Add)."""
    fam_a, fam_b = family(op_a), family(op_b)
    return (compatible(op_a, op_b) or decomposes(op_a, op_b) or decomposes(op_b, op_a)
            or fam_b in FOLDS.get(fam_a, ()) or fam_a in FOLDS.get(fam_b, ()))


def _case(model: str, form_a: str, form_b: str) -> Any:
    marks = [pytest.mark.skipif(not ONNX2TORCH, reason="onnx2torch is installed by `make setup`")
             ] if form_a == "onnx2torch" else []
    return pytest.param(model, form_a, form_b, id=f"{model}-{form_a}-{form_b}", marks=marks)


@pytest.mark.slow
@pytest.mark.parametrize("model, form_a, form_b",
                         [_case(*c) for c in CASES + ONNX2TORCH_CASES])
def test_every_pair_follows_its_module(model: str, form_a: str, form_b: str,
                                       real_corpus: Any) -> None:
    a, b = _graphs(real_corpus, model, form_a, form_b)
    alignment = align(a, b)
    pairs = [(m.a, m.b) for m in alignment.pairs if m.how != "input"]
    assert wrong_pairs(a, b, pairs) == [], "\n".join(wrong_pairs(a, b, pairs))
    for unmatched in (alignment.unmatched_a, alignment.unmatched_b):
        assert len(pairs) / (len(pairs) + len(unmatched)) >= 0.95, unmatched


def _graphs(real_corpus: Any, model: str, form_a: str, form_b: str) -> tuple[Graph, Graph]:
    """The graphs ``parity.compare`` aligns: each side sees the model's inputs, keyed by
    its own input names, first (a factory's graph is recorded on them, a TorchScript
    graph whose slices compute their bounds gets its shapes)."""
    a, b = (open_model(real_corpus.export(model, form)) for form in (form_a, form_b))
    feeds_a, feeds_b = make_feeds(a, b, real_corpus.inputs(model))
    a.observe(feeds_a.arrays)
    b.observe(feeds_b.arrays)
    return a.graph, b.graph


def _nameless(graph: Graph, side: str) -> tuple[Graph, dict[str, str]]:
    """``graph`` with its nodes renamed ``<side><k>`` and no scopes, and the new names ->
    the old."""
    new = {node.name: f"{side}{k}" for k, node in enumerate(graph.nodes)}
    nodes = tuple(replace(node, name=new[node.name], scope="",
                          inputs=tuple(new.get(i, i) for i in node.inputs))
                  for node in graph.nodes)
    renamed = Graph(nodes, graph.inputs, tuple(new.get(o, o) for o in graph.outputs),
                    graph.source)
    return renamed, {v: k for k, v in new.items()}


@pytest.mark.slow
@pytest.mark.skipif(not ONNX2TORCH, reason="onnx2torch is installed by `make setup`")
@pytest.mark.parametrize("model", ["vit", "convnext"])
def test_structure_alone_pairs_onnx2torch_with_dynamo(model: str, real_corpus: Any) -> None:
    """Names and scopes removed, graph structure alone pairs the erf GELU's five ops with
    the dynamo export's Gelu at their end, and every other node with its own."""
    a, b = _graphs(real_corpus, model, "onnx2torch", "onnx_dynamo")
    (bare_a, old_a), (bare_b, old_b) = _nameless(a, "a"), _nameless(b, "b")
    alignment = align(bare_a, bare_b)
    pairs = [(old_a[m.a], old_b[m.b]) for m in alignment.pairs if m.how != "input"]
    assert wrong_pairs(a, b, pairs) == [], "\n".join(wrong_pairs(a, b, pairs))
    assert alignment.unmatched_a == alignment.unmatched_b == ()
