"""A value one side computes twice and the other once (align/repeats.py), and an op that
reads its second operand for its dtype only (align/activations.py).

Gemma 2's TorchScript trace builds its sliding-window mask from ``attention_mask`` anew
(``to -> index -> to`` again, then its own ``and``); the legacy export shares the first
Cast/Gather/Cast and reads it twice. The repeats merge into the first chain, and each
mask's ``and`` pairs with its own (the neighbour checks read through the repeats, so the
second ``and``'s pair stands: it was merged into the first before, the two masks compared
as one), and what reads both masks pairs. Its RMSNorm ends in
``type_as(x)``, which reads the norm's input for its dtype: an extra step between pairs,
not an unmatched node.
"""

from __future__ import annotations

import pytest

from parity import open_model
from parity.align import align
from parity.align.repeats import merge_repeats
from parity.graph import Graph, Node, TensorSpec


def _graph(nodes: list[tuple[str, str, tuple[str, ...]]]) -> Graph:
    return Graph(tuple(Node(name, op, inputs, scope="model") for name, op, inputs in nodes),
                 (TensorSpec("mask", (1, 16), "int64"),), (nodes[-1][0],))


_TORCHSCRIPT = _graph([
    ("model/to", "aten::to", ("mask",)),
    ("model/index", "aten::index", ("model/to",)),
    ("model/to:1", "aten::to", ("model/index",)),
    ("model/__and__", "aten::__and__", ("model/to:1",)),
    ("model/to:2", "aten::to", ("mask",)),
    ("model/index:1", "aten::index", ("model/to:2",)),
    ("model/to:3", "aten::to", ("model/index:1",)),
    ("model/__and__:1", "aten::__and__", ("model/to:3",)),
    ("model/add", "aten::add", ("model/__and__", "model/__and__:1")),
])
_LEGACY = _graph([
    ("/model/Cast", "Cast", ("mask",)),
    ("/model/Gather", "Gather", ("/model/Cast",)),
    ("/model/Cast_2", "Cast", ("/model/Gather",)),
    ("/model/And_1", "And", ("/model/Cast_2",)),
    ("/model/And_5", "And", ("/model/Cast_2",)),
    ("/model/Add", "Add", ("/model/And_1", "/model/And_5")),
])


def test_a_repeated_chain_merges_into_the_first_and_what_reads_it_pairs() -> None:
    alignment = align(_TORCHSCRIPT, _LEGACY)
    pairs = {m.a: m.b for m in alignment.pairs}
    assert pairs["model/to:1"] == "/model/Cast_2" and pairs["model/add"] == "/model/Add"
    assert pairs["model/__and__:1"] == "/model/And_5"
    assert alignment.skipped_a == ("model/to:2", "model/index:1", "model/to:3")
    assert alignment.skipped_b == ()
    assert alignment.unmatched_a == () and alignment.unmatched_b == ()


def test_a_type_as_reads_only_its_first_operand() -> None:
    norm = Graph((Node("x", "aten::to", ("mask",)), Node("x:1", "aten::mul", ("x",)),
                  Node("x:2", "aten::type_as", ("x:1", "x")),
                  Node("out", "aten::linear", ("x:2",))),
                 (TensorSpec("mask", (1, 16), "float32"),), ("out",))
    onnx = Graph((Node("Cast", "Cast", ("mask",)), Node("Mul", "Mul", ("Cast",)),
                  Node("MatMul", "MatMul", ("Mul",))),
                 (TensorSpec("mask", (1, 16), "float32"),), ("MatMul",))
    alignment = align(norm, onnx)
    assert {m.a: m.b for m in alignment.pairs}["out"] == "MatMul"
    assert "x:2" in alignment.skipped_a and alignment.unmatched_a == ()


def test_torch_ops_that_differ_by_a_constant_are_not_repeats(tmp_path) -> None:
    """A traced model's ``x + 1`` twice is one value; ``x + 2`` beside them is another (its
    constant is recorded), as Gemma 2's sliding mask differs from the full one by its
    window."""
    torch = pytest.importorskip("torch", reason="parity[torch] not installed")

    class Offsets(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x + 1.0) * (x + 1.0) * (x + 2.0)

    path = tmp_path / "offsets.pt"
    torch.jit.save(torch.jit.trace(Offsets(), torch.ones(1, 4)), str(path))
    graph = open_model(path).graph
    adds = [n.name for n in graph.nodes if n.op == "aten::add"]
    assert len(adds) == 3
    assert graph.node(adds[2]).attrs["constants"] == ((1, 2.0), (2, 1))
    _, merged = merge_repeats(graph, set(adds))
    assert merged == {adds[1]: adds[0]}
