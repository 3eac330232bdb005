"""A pair its neighbours contradict is dropped and matched again (align/ancestry.py)."""

from parity.align import align
from parity.align.ancestry import out_of_order
from parity.graph import Graph, Node, TensorSpec


def _graph(nodes: list[tuple[str, str, tuple[str, ...]]]) -> Graph:
    return Graph(tuple(Node(n, op, ins, scope="attn") for n, op, ins in nodes),
                 (TensorSpec("x", (1, 4, 8)),), (nodes[-1][0],))


def test_an_exporters_inner_reshape_is_not_torchs_reshape_of_the_output():
    """GPT-2's attention through the dynamo exporter: K^T is built as Reshape -> Transpose
    -> Reshape before the scores; torch reshapes the attention's output. Both scopes hold two
    reshapes, so call order pairs them wrongly; their producers say so."""
    torch_graph = _graph([
        ("q", "aten::view", ("x",)), ("k", "aten::view", ("x",)),
        ("sdpa", "aten::scaled_dot_product_attention", ("q", "k")),
        ("attn/reshape", "aten::reshape", ("sdpa",)),
        ("attn/reshape:1", "aten::reshape", ("attn/reshape",)),
        ("out", "aten::relu", ("attn/reshape:1",)),
    ])
    onnx_graph = _graph([
        ("Q", "Split", ("x",)), ("K", "Split", ("x",)),
        ("R84", "Reshape", ("K",)), ("T85", "Transpose", ("R84",)), ("R87", "Reshape", ("T85",)),
        ("S", "MatMul", ("Q", "R87")), ("P", "Softmax", ("S",)), ("O", "MatMul", ("P", "Q")),
        ("Out", "Relu", ("O",)),
    ])
    wrong = {"x": "x", "q": "Q", "k": "K", "attn/reshape": "R84", "attn/reshape:1": "R87",
             "out": "Out"}
    assert set(out_of_order(torch_graph, onnx_graph, wrong, keep={"x"})) == {
        "attn/reshape", "attn/reshape:1"}
    pairs = {m.a: m.b for m in align(torch_graph, onnx_graph).pairs}
    assert pairs.get("attn/reshape") not in ("R84", "R87")
    assert pairs.get("attn/reshape:1") not in ("R84", "R87")
    assert pairs["out"] == "Out"


def test_consistent_pairs_are_kept():
    chain = [("a", "aten::relu", ("x",)), ("b", "aten::sigmoid", ("a",))]
    graph = _graph(chain)
    assert out_of_order(graph, graph, {"x": "x", "a": "a", "b": "b"}, keep={"x"}) == []
