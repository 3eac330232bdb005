import pytest

from parity.align import align
from parity.align.names import normalise_name
from parity.errors import NodeNotFound
from parity.graph import Graph, Node, TensorSpec


def graph(*nodes: Node, source: str = "g") -> Graph:
    return Graph(tuple(nodes), (TensorSpec("x", (1, 3, 8, 8)),), source=source)


def chain(names_ops: list[tuple[str, str]], scopes: list[str] | None = None) -> Graph:
    nodes, previous = [], "x"
    for i, (name, op) in enumerate(names_ops):
        scope = scopes[i] if scopes else ""
        nodes.append(Node(name, op, (previous,), scope=scope))
        previous = name
    return graph(*nodes)


def node_pairs(result):
    return [m for m in result.pairs if m.how != "input"]


def test_inputs_are_paired_and_renamed_nodes_matched_by_structure():
    a = chain([("conv1", "Conv"), ("relu1", "Relu")])
    b = chain([("c1", "Convolution"), ("r1", "ReLU")])
    assert [(m.a, m.b, m.how) for m in align(a, b).pairs] == [
        ("x", "x", "input"), ("conv1", "c1", "structure"), ("relu1", "r1", "structure")]


def test_exact_names_match():
    a = chain([("conv1", "Conv"), ("relu1", "Relu")])
    b = chain([("conv1", "Convolution"), ("relu1", "ReLU")])
    result = align(a, b)
    assert [(m.a, m.b, m.how) for m in node_pairs(result)] == [
        ("conv1", "conv1", "exact"), ("relu1", "relu1", "exact")]
    assert result.unmatched_a == result.unmatched_b == ()


def test_normalised_names_match():
    assert normalise_name("conv_1_output") == normalise_name("Conv.1") == "conv_1"
    a = chain([("conv_1_output", "Conv")])
    b = chain([("Conv.1", "Conv")])
    assert [m.how for m in node_pairs(align(a, b))] == ["normalised"]


def test_scope_alignment_torch_vs_onnx_exporter_names():
    torch_side = chain(
        [("layer1.0.conv1", "aten::_convolution"), ("layer1.0.relu", "aten::relu"),
         ("layer1.0/add", "aten::add"), ("layer1.0.relu:1", "aten::relu"), ("cat", "aten::cat")],
        ["layer1.0.conv1", "layer1.0.relu", "layer1.0", "layer1.0.relu", ""],
    )
    onnx_side = chain(
        [("/layer1/layer1.0/conv1/Conv", "Conv"), ("/layer1/layer1.0/relu/Relu", "Relu"),
         ("/layer1/layer1.0/Add", "Add"), ("/layer1/layer1.0/relu_1/Relu", "Relu"),
         ("/Concat", "Concat")],
        ["layer1.0.conv1", "layer1.0.relu", "layer1.0", "layer1.0.relu_1", ""],
    )
    pairs = {(m.a, m.b) for m in node_pairs(align(torch_side, onnx_side))}
    assert pairs == {
        ("layer1.0.conv1", "/layer1/layer1.0/conv1/Conv"),
        ("layer1.0.relu", "/layer1/layer1.0/relu/Relu"),
        ("layer1.0/add", "/layer1/layer1.0/Add"),
        ("layer1.0.relu:1", "/layer1/layer1.0/relu_1/Relu"),
        ("cat", "/Concat"),
    }


def test_manual_mapping_overrides_and_globs():
    a = chain([("stage1_conv", "Conv"), ("stage1_relu", "Relu"), ("head", "Gemm")])
    b = chain([("s1.conv", "Conv"), ("s1.relu", "Relu"), ("fc", "Gemm")])
    result = align(a, b, {"stage1_*": "s1.*", "head": "fc"})
    assert {(m.a, m.b, m.how) for m in node_pairs(result)} == {
        ("stage1_conv", "s1.conv", "manual"), ("stage1_relu", "s1.relu", "manual"),
        ("head", "fc", "manual")}


def test_manual_mapping_unknown_node_names_closest():
    a = chain([("conv1", "Conv")])
    b = chain([("conv1", "Conv")])
    with pytest.raises(NodeNotFound, match="conv1"):
        align(a, b, {"conv2": "conv1"})


def test_ambiguous_names_are_not_guessed():
    a = chain([("a_b", "Conv"), ("a.b", "Conv")])
    b = chain([("a/b", "Conv")])
    assert all(m.how not in ("exact", "normalised") for m in align(a, b).pairs)


def test_caffe_batchnorm_scale_chain_is_compared_at_the_scale():
    mxnet = chain([("_minusscalar0", "_minus_scalar"), ("_mulscalar0", "_mul_scalar"),
                   ("conv_1_conv2d", "Convolution"), ("conv_1_batchnorm", "BatchNorm"),
                   ("conv_1_relu", "LeakyReLU")])
    mxnet = Graph(tuple(
        Node(n.name, n.op, n.inputs, {"scalar": {"_minusscalar0": 127.5,
                                                  "_mulscalar0": 0.0078125}.get(n.name)})
        if n.op.endswith("_scalar") else n for n in mxnet.nodes), mxnet.inputs)
    caffe = Graph(chain([("conv_1_conv2d", "Convolution"), ("conv_1_batchnorm", "BatchNorm"),
                         ("conv_1_batchnorm_scale", "Scale"), ("conv_1_relu", "PReLU")]).nodes,
                  (TensorSpec("data", (1, 3, 112, 112)),))
    caffe = Graph(tuple(Node(n.name, n.op, ("data",) if n.inputs == ("x",) else n.inputs)
                        for n in caffe.nodes), caffe.inputs)
    result = align(mxnet, caffe)
    assert [(m.a, m.b, m.how) for m in result.pairs] == [
        ("_mulscalar0", "data", "input"),
        ("conv_1_conv2d", "conv_1_conv2d", "exact"),
        ("conv_1_batchnorm", "conv_1_batchnorm_scale", "exact+fold"),
        ("conv_1_relu", "conv_1_relu", "exact"),
    ]
    assert result.skipped_a == ("_minusscalar0",)
    assert result.skipped_b == ("conv_1_batchnorm",)
    assert result.unmatched_a == result.unmatched_b == ()


def test_names_that_contradict_their_neighbours_are_re_examined():
    a = chain([("conv1", "Conv"), ("conv2", "Conv")])
    b = chain([("conv2", "Conv"), ("conv1", "Conv")])  # names swapped by a converter
    pairs = node_pairs(align(a, b))
    assert {(m.a, m.b, m.how) for m in pairs} == {
        ("conv1", "conv2", "structure"), ("conv2", "conv1", "structure")}
    assert all(0 < m.confidence < 1 for m in pairs)


def test_manual_mapping_is_taken_as_written():
    a = chain([("conv1", "Conv"), ("conv2", "Conv")])
    b = chain([("conv2", "Conv"), ("conv1", "Conv")])
    fixed = align(a, b, {"conv1": "conv2", "conv2": "conv1"})
    assert {(m.a, m.b, m.how) for m in node_pairs(fixed)} == {
        ("conv1", "conv2", "manual"), ("conv2", "conv1", "manual")}


def test_mapping_file(tmp_path):
    from parity.align.mapping_file import read_mapping
    from parity.errors import UsageError

    toml = tmp_path / "map.toml"
    toml.write_text('"layer1.0.conv1" = "/layer1/layer1.0/conv1/Conv"\n"stage_*" = "s.*"\n')
    assert read_mapping(toml) == {"layer1.0.conv1": "/layer1/layer1.0/conv1/Conv",
                                  "stage_*": "s.*"}
    js = tmp_path / "map.json"
    js.write_text('{"a": "b"}')
    assert read_mapping(js) == {"a": "b"}
    js.write_text('{"a": 1}')
    with pytest.raises(UsageError, match="not a node name"):
        read_mapping(js)
    with pytest.raises(UsageError, match="mapping file not found"):
        read_mapping(tmp_path / "none.toml")


def test_sequence_alignment_pairs_what_structure_cannot():
    # B's second relu also reads a node A lacks, so its matched ancestors differ from A's.
    a = chain([("conv1", "Conv"), ("relu1", "Relu"), ("conv2", "Conv"), ("relu2", "Relu")])
    b_nodes = list(chain([("c1", "Conv"), ("r1", "Relu"), ("c2", "Conv")]).nodes)
    b_nodes.insert(0, Node("bias_source", "Bias", ("x",)))
    b_nodes.append(Node("r2", "Relu", ("c2", "bias_source")))
    b = graph(*b_nodes)
    pairs = {(m.a, m.b, m.how) for m in node_pairs(align(a, b))}
    assert ("relu2", "r2", "sequence") in pairs
    assert ("conv2", "c2", "structure") in pairs
