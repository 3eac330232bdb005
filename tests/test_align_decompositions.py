"""One op against another framework's decomposition of it, found from structure alone (no
names, no scopes, no shapes, as a converted model's TorchScript may show): the pair is the
decomposition's end, where its paths meet again, and none of its inner ops pairs on its
own (onnx2torch keeps the legacy export's erf GELU as Div, Erf, Add, Mul, Mul)."""

from __future__ import annotations

from parity.align import align
from parity.graph import Graph, Node, TensorSpec


def _graph(nodes: list[tuple[str, str, tuple[str, ...]]], output: str, side: str) -> Graph:
    """Nodes named ``<side><k>`` (``a3``, ``b3``): the two sides share no name."""
    def named(name: str) -> str:
        return name if name == "x" else side + name[1:]

    return Graph(tuple(Node(named(name), op, tuple(named(i) for i in inputs))
                       for name, op, inputs in nodes),
                 (TensorSpec("x", (1, 17, 32)),), (named(output),))


def _mlp(activation: list[tuple[str, str, tuple[str, ...]]], out: str, ops: dict[str, str],
         side: str) -> Graph:
    """x -> MatMul + bias Add -> activation -> MatMul + bias Add -> residual Add, each
    node named by a number so names say nothing."""
    nodes = [("n1", ops["matmul"], ("x",)), ("n2", ops["add"], ("n1",)), *activation,
             ("n90", ops["matmul"], (out,)), ("n91", ops["add"], ("n90",)),
             ("n92", ops["add"], ("n91", "x"))]
    return _graph(nodes, "n92", side)


TORCH = {"matmul": "aten::matmul", "add": "aten::add"}
ONNX = {"matmul": "MatMul", "add": "Add"}
ERF_GELU = [("n3", "aten::div", ("n2",)), ("n4", "aten::erf", ("n3",)),
            ("n5", "aten::add", ("n4",)), ("n6", "aten::mul", ("n2", "n5")),
            ("n7", "aten::mul", ("n6",))]
TANH_GELU = [("n3", "Pow", ("n2",)), ("n4", "Mul", ("n3",)), ("n5", "Add", ("n2", "n4")),
             ("n6", "Mul", ("n5",)), ("n7", "Tanh", ("n6",)), ("n8", "Add", ("n7",)),
             ("n9", "Mul", ("n2", "n8")), ("n10", "Mul", ("n9",))]


def test_erf_gelu_in_five_ops_pairs_at_its_end_and_the_bias_add_with_the_bias_add():
    decomposed = _mlp(ERF_GELU, "n7", TORCH, "a")
    one_op = _mlp([("n3", "Gelu", ("n2",))], "n3", ONNX, "b")
    alignment = align(decomposed, one_op)
    pairs = {m.a: m.b for m in alignment.pairs}
    assert pairs["a7"] == "b3"  # 0.5 * x * (1 + erf(x / sqrt 2)) ~ Gelu
    assert pairs["a2"] == "b2" and pairs["a91"] == "b91" and pairs["a92"] == "b92"
    assert {"a3", "a4", "a5", "a6"} <= set(alignment.skipped_a)
    assert alignment.unmatched_a == alignment.unmatched_b == ()


def test_one_gelu_pairs_with_the_end_of_a_tanh_gelu_on_the_other_side():
    """The first Mul after the GELU's input is x * x^3's coefficient, not the GELU."""
    one_op = _mlp([("n3", "aten::gelu", ("n2",))], "n3", TORCH, "a")
    decomposed = _mlp(TANH_GELU, "n10", ONNX, "b")
    alignment = align(one_op, decomposed)
    pairs = {m.a: m.b for m in alignment.pairs}
    assert pairs["a3"] == "b10" and pairs["a91"] == "b91"
    assert {"b3", "b4", "b5", "b6", "b7", "b8", "b9"} <= set(alignment.skipped_b)
    assert alignment.unmatched_a == alignment.unmatched_b == ()


def test_group_norm_pairs_with_the_older_exporters_reshape_instance_norm_chain():
    """``torch.onnx.export(dynamo=False)`` writes a GroupNorm as Reshape ->
    InstanceNormalization -> Reshape -> Mul (gamma) -> Add (beta): the pair is beta's Add."""
    one_op = _graph([("n1", "aten::_convolution", ("x",)), ("n2", "aten::group_norm", ("n1",)),
                     ("n3", "aten::avg_pool2d", ("n2",)), ("n4", "aten::sub", ("n3", "n2"))],
                    "n4", "a")
    chain = _graph([("n1", "Conv", ("x",)), ("n2", "Reshape", ("n1",)),
                    ("n3", "InstanceNormalization", ("n2",)), ("n4", "Reshape", ("n3",)),
                    ("n5", "Mul", ("n4",)), ("n6", "Add", ("n5",)),
                    ("n7", "AveragePool", ("n6",)), ("n8", "Sub", ("n7", "n6"))], "n8", "b")
    alignment = align(one_op, chain)
    pairs = {m.a: m.b for m in alignment.pairs}
    assert pairs["a2"] == "b6" and pairs["a3"] == "b7" and pairs["a4"] == "b8"
    assert {"b2", "b3", "b4", "b5"} <= set(alignment.skipped_b)
    assert alignment.unmatched_a == alignment.unmatched_b == ()
