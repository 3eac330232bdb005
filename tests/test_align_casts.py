"""A cast one side has and the other leaves out (align/structure.py, align/folds.py).

BLOOM's TorchScript trace casts the attention mask to int64 (``mask.to(device)``, a no-op)
before computing the ALiBi positions from it and before casting it to bool; the dynamo
export computes the positions on the input itself and has the bool cast only. Scopes pair
the position chain first; the no-op cast must not take the bool cast's partner (which comes
after the ``cumsum`` it would have to feed), and sits between pairs B links directly to the
model's input: skipped, not unmatched.
"""

from __future__ import annotations

from parity.align import align
from parity.graph import Graph, Node, TensorSpec


def _graph(nodes: list[tuple[str, str, tuple[str, ...]]]) -> Graph:
    return Graph(tuple(Node(name, op, inputs, scope="model") for name, op, inputs in nodes),
                 (TensorSpec("mask", (1, 16), "int64"),), (nodes[-1][0],))


_TORCHSCRIPT = _graph([
    ("model/to", "aten::to", ("mask",)),
    ("model/cumsum", "aten::cumsum", ("model/to",)),
    ("model/sub", "aten::sub", ("model/cumsum",)),
    ("model/mul", "aten::mul", ("model/sub", "model/to")),
    ("model/to:1", "aten::to", ("model/to",)),
    ("model/index", "aten::index", ("model/to:1",)),
    ("model/add", "aten::add", ("model/mul", "model/index")),
])
_DYNAMO = _graph([
    ("node_cumsum", "CumSum", ("mask",)),
    ("node_sub", "Sub", ("node_cumsum",)),
    ("node_mul", "Mul", ("node_sub", "mask")),
    ("node__to_copy", "Cast", ("mask",)),
    ("node_gather", "GatherND", ("node__to_copy",)),
    ("node_add", "Add", ("node_mul", "node_gather")),
])


def test_the_bool_cast_pairs_with_the_bool_cast():
    pairs = {m.a: m.b for m in align(_TORCHSCRIPT, _DYNAMO).pairs}
    assert pairs["model/to:1"] == "node__to_copy"
    assert [pairs[x] for x in ("model/cumsum", "model/sub", "model/mul", "model/index")] == [
        "node_cumsum", "node_sub", "node_mul", "node_gather"]


def test_the_cast_only_torchscript_has_is_skipped():
    alignment = align(_TORCHSCRIPT, _DYNAMO)
    assert "model/to" in alignment.skipped_a
    assert alignment.unmatched_a == alignment.unmatched_b == ()
