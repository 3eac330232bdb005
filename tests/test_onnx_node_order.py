"""ONNX nodes written out of topological order are read in order (backends/onnxrt.py)."""

import pytest

onnx = pytest.importorskip("onnx", reason="parity[onnx] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

from onnx import TensorProto, helper  # noqa: E402

import parity  # noqa: E402


def test_a_cast_appended_after_its_readers_comes_first(tmp_path):
    """onnxruntime's float16 converter appends the input Cast after the nodes reading it."""
    nodes = [helper.make_node("Relu", ["x_half"], ["y_half"], "relu"),
             helper.make_node("Cast", ["y_half"], ["y"], "to_float", to=TensorProto.FLOAT),
             helper.make_node("Cast", ["x"], ["x_half"], "to_half", to=TensorProto.FLOAT16)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "unsorted.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    model = parity.open_model(path)
    assert [n.name for n in model.graph.nodes] == ["to_half", "relu", "to_float"]
    assert model.graph.node("relu").inputs == ("to_half",)
