"""Name strategies: a name says which node it is only when it says more than the op."""

import pytest

from parity.align import align
from parity.align.names import named_key
from parity.graph import Graph, Node, TensorSpec


@pytest.mark.parametrize("name, op", [
    ("/model/encoder/layer.0/attention/self/Reshape_1", "Reshape"),
    ("model.encoder.layer.0.attention.self/reshape:1", "aten::reshape"),
    ("model.embeddings/add", "aten::add"),
    ("/Transpose", "Transpose"),
])
def test_names_generated_from_the_op_are_no_evidence(name, op):
    assert named_key(Node(name, op)) == ""


@pytest.mark.parametrize("name, op, key", [
    ("encoder.0.attention.self.query", "aten::linear", "encoder_0_attention_self_query"),
    ("conv1_output", "Convolution", "conv1"),
    ("node_Reshape_84", "Reshape", "node_reshape_84"),
])
def test_other_names_are_normalised(name, op, key):
    assert named_key(Node(name, op)) == key


def test_op_counters_do_not_pair_different_calls():
    """torch's second ``reshape`` of a scope is not the exporter's second ``Reshape`` there:
    a ``view`` became the first. Call order within the op family pairs them."""
    def chain(names_ops):
        nodes, last = [], "x"
        for name, op in names_ops:
            nodes.append(Node(name, op, (last,), scope="blk"))
            last = name
        return Graph(tuple(nodes), (TensorSpec("x", (1, 4)),), (last,))

    torch_graph = chain([("blk/view", "aten::view"), ("blk/relu", "aten::relu"),
                         ("blk/reshape", "aten::reshape"), ("blk/relu:1", "aten::relu"),
                         ("blk/reshape:1", "aten::reshape")])
    onnx_graph = chain([("/blk/Reshape", "Reshape"), ("/blk/Relu", "Relu"),
                        ("/blk/Reshape_1", "Reshape"), ("/blk/Relu_1", "Relu"),
                        ("/blk/Reshape_2", "Reshape")])
    pairs = {m.a: m.b for m in align(torch_graph, onnx_graph).pairs}
    assert pairs["blk/reshape"] == "/blk/Reshape_1"
    assert pairs["blk/reshape:1"] == "/blk/Reshape_2"
