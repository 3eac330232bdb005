"""The models' outputs are compared even where one side appends steps (align/outputs.py)."""

from parity.align import align
from parity.graph import Graph, Node, TensorSpec

_INPUT = (TensorSpec("x", (1, 3, 8, 8)),)


def _torch() -> Graph:
    return Graph((Node("conv", "aten::_convolution", ("x",), shape=(1, 4, 8, 8)),
                  Node("relu", "aten::relu", ("conv",), shape=(1, 4, 8, 8))),
                 _INPUT, ("relu",))


def _onnx(tail: list[Node], outputs: tuple[str, ...]) -> Graph:
    return Graph((Node("/conv/Conv", "Conv", ("x",), shape=(1, 4, 8, 8)),
                  Node("/Relu", "Relu", ("/conv/Conv",), shape=(1, 4, 8, 8)), *tail),
                 _INPUT, outputs)


def test_an_appended_transpose_moves_the_pair_onto_the_outputs():
    tail = [Node("/out/Transpose", "Transpose", ("/Relu",), {"perm": (0, 2, 3, 1)},
                 shape=(1, 8, 8, 4))]
    alignment = align(_torch(), _onnx(tail, ("/out/Transpose",)))
    pairs = {m.a: m for m in alignment.pairs}
    assert pairs["relu"].b == "/out/Transpose"
    assert pairs["relu"].how.endswith("+output")
    assert pairs["conv"].b == "/conv/Conv"
    assert alignment.unmatched_b == ()


def test_the_steps_of_a_longer_tail_are_skipped():
    tail = [Node("/out/Softmax", "Softmax", ("/Relu",), shape=(1, 4, 8, 8)),
            Node("/out/Transpose", "Transpose", ("/out/Softmax",), {"perm": (0, 2, 3, 1)},
                 shape=(1, 8, 8, 4))]
    alignment = align(_torch(), _onnx(tail, ("/out/Transpose",)))
    assert {m.a: m.b for m in alignment.pairs}["relu"] == "/out/Transpose"
    assert "/out/Softmax" in alignment.skipped_b
    assert alignment.unmatched_b == ()


def test_a_tail_on_a_moves_the_pair_too():
    onnx = _onnx([], ("/Relu",))
    torch = Graph((*_torch().nodes,
                   Node("sigmoid", "aten::sigmoid", ("relu",), shape=(1, 4, 8, 8))),
                  _INPUT, ("sigmoid",))
    pairs = {m.a: m.b for m in align(torch, onnx).pairs}
    assert pairs["sigmoid"] == "/Relu"
    assert "relu" not in pairs


def test_a_tail_reading_another_matched_node_is_left_alone():
    """An output that also reads an earlier layer is not only a step after the paired one."""
    tail = [Node("/out/Add", "Add", ("/Relu", "/conv/Conv"), shape=(1, 4, 8, 8))]
    alignment = align(_torch(), _onnx(tail, ("/out/Add",)))
    assert {m.a: m.b for m in alignment.pairs}["relu"] == "/Relu"
    assert alignment.unmatched_b == ("/out/Add",)


def test_outputs_of_other_sizes_are_not_paired():
    tail = [Node("/out/Pool", "GlobalAveragePool", ("/Relu",), shape=(1, 4, 1, 1))]
    alignment = align(_torch(), _onnx(tail, ("/out/Pool",)))
    assert {m.a: m.b for m in alignment.pairs}["relu"] == "/Relu"
