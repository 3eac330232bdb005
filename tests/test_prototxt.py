"""The framework-free prototxt parser and the graph it builds (no OpenCV needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from parity.errors import ModelLoadError
from parity.prototxt import (
    build_graph,
    input_transform,
    layer_type,
    load_prototxt,
    parse_prototxt,
)

CHAIN = """
name: "chain"   # a comment
input: "data"
input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer {
  name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 }
}
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1"
        batch_norm_param { eps: 0.001 } }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1"
        scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
"""


def graph_of(text: str):
    return build_graph(parse_prototxt(text, "t.prototxt"), "t.prototxt")


def test_parse_fields_repeated_nested_and_values():
    net = parse_prototxt(
        'a: 1 a: -2 b: 2.5e-3 c: "x\\"y" \'z\' d: true e: FLOOR f: [1, 2, 3] g: 1.5f\n'
        "h { i: 0x10 j { } }  # trailing comment\n"
    )
    assert net.many("a") == [1, -2]
    assert net.one("b") == 2.5e-3
    assert net.one("c") == 'x"yz'
    assert (net.one("d"), net.one("e"), net.many("f"), net.one("g")) == (True, "FLOOR", [1, 2, 3],
                                                                          1.5)
    assert net.block("h").one("i") == 16
    assert net.block("h").block("j") == {}
    assert net.block("missing").one("x", 7) == 7


def test_in_place_chain_resolves_each_bottom_to_the_last_writer():
    graph = graph_of(CHAIN)
    assert [n.name for n in graph] == ["conv1", "bn1", "scale1", "relu1", "pool1"]
    assert [graph.node(n).inputs for n in ("conv1", "bn1", "scale1", "relu1", "pool1")] == [
        ("data",), ("conv1",), ("bn1",), ("scale1",), ("relu1",)]
    assert graph.outputs == ("pool1",)
    assert graph.inputs[0].name == "data" and graph.inputs[0].shape == (1, 3, 8, 8)
    assert graph.op_of("bn1") == "BatchNorm"


def test_attrs_are_normalised_with_caffe_defaults():
    graph = graph_of(CHAIN)
    assert graph.node("conv1").attrs == {
        "num_output": 4, "kernel": (3, 3), "stride": (1, 1), "pad": (1, 1),
        "dilation": (1, 1), "group": 1, "bias_term": True}
    assert graph.node("bn1").attrs == {"eps": 0.001, "use_global_stats": True}
    assert graph.node("scale1").attrs["bias_term"] is True
    pool = graph.node("pool1").attrs
    assert (pool["pool"], pool["ceil_mode"], pool["kernel"], pool["stride"]) == (
        "MAX", True, (3, 3), (2, 2))


@pytest.mark.parametrize(("param", "expected"), [
    ("", True), ("round_mode: FLOOR", False), ("round_mode: CEIL", True),
    ("round_mode: 1", False), ("ceil_mode: false", False),
])
def test_pooling_rounding(param: str, expected: bool):
    text = CHAIN.replace("pool: MAX", f"pool: MAX {param}")
    assert graph_of(text).node("pool1").attrs["ceil_mode"] is expected


def test_defaults_and_variants_of_other_layers():
    text = """
    input: "a" input: "b" input_dim: 1 input_dim: 2 input_dim: 4 input_dim: 4
    input_dim: 1 input_dim: 2 input_dim: 4 input_dim: 4
    layer { name: "dw" type: "Convolution" bottom: "a" top: "dw"
            convolution_param { num_output: 2 group: 2 bias_term: false kernel_h: 3
                                kernel_w: 1 pad_h: 1 stride_w: 2 dilation: 2 } }
    layer { name: "bn" type: "BatchNorm" bottom: "b" top: "bn" }
    layer { name: "sc" type: "Scale" bottom: "bn" top: "bn" }
    layer { name: "pr" type: "PReLU" bottom: "dw" top: "pr" prelu_param { channel_shared: true } }
    layer { name: "cat" type: "Concat" bottom: "pr" bottom: "bn" top: "cat" }
    layer { name: "mul" type: "Eltwise" bottom: "cat" bottom: "cat" top: "mul"
            eltwise_param { operation: PROD } }
    layer { name: "sum" type: "Eltwise" bottom: "mul" bottom: "cat" top: "sum" }
    layer { name: "avg" type: "Pooling" bottom: "sum" top: "avg"
            pooling_param { pool: 1 global_pooling: true } }
    layer { name: "fc" type: "InnerProduct" bottom: "avg" top: "fc"
            inner_product_param { num_output: 3 } }
    layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc"
            dropout_param { dropout_ratio: 0.1 } }
    """
    graph = graph_of(text)
    assert [s.shape for s in graph.inputs] == [(1, 2, 4, 4), (1, 2, 4, 4)]
    dw = graph.node("dw").attrs
    assert (dw["kernel"], dw["pad"], dw["stride"], dw["dilation"], dw["group"],
            dw["bias_term"]) == ((3, 1), (1, 0), (1, 2), (2, 2), 2, False)
    assert graph.node("bn").attrs == {"eps": 1e-5, "use_global_stats": True}
    assert graph.node("sc").attrs["bias_term"] is False
    assert graph.node("sc").inputs == ("bn",)
    assert graph.node("pr").attrs == {"channel_shared": True}
    assert graph.node("cat").attrs == {"axis": 1}
    assert graph.node("cat").inputs == ("pr", "sc")
    assert graph.node("mul").attrs == {"operation": "PROD"} and graph.node("mul").inputs == ("cat",)
    assert graph.node("sum").attrs == {"operation": "SUM"}
    avg = graph.node("avg").attrs
    assert (avg["pool"], avg["global_pooling"], "kernel" in avg) == ("AVE", True, False)
    assert graph.node("fc").attrs["bias_term"] is True
    assert graph.node("drop").attrs == {"dropout_ratio": 0.1}
    assert graph.outputs == ("drop",)


def test_input_layers_and_transform_param():
    text = """
    layer { name: "in" type: "Input" top: "img" top: "aux"
            input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } }
            transform_param { mean_value: 127.5 mean_value: 127.5 mean_value: 127.5
                              scale: 0.0078125 } }
    layer { name: "relu" type: "ReLU" bottom: "img" top: "relu" }
    """
    net = parse_prototxt(text)
    graph = build_graph(net)
    assert [(s.name, s.shape) for s in graph.inputs] == [("img", (1, 3, 4, 4)),
                                                         ("aux", (1, 3, 4, 4))]
    assert [n.name for n in graph] == ["relu"]
    assert input_transform(net) == {"img": {"mean": (127.5, 127.5, 127.5), "scale": 0.0078125}}
    assert input_transform(parse_prototxt(CHAIN)) == {}


def test_legacy_layers_blocks_and_type_names():
    text = """
    input: "data"
    layers { name: "c" type: CONVOLUTION bottom: "data" top: "c"
             convolution_param { num_output: 2 kernel_size: 1 } }
    layers { name: "r" type: RELU bottom: "c" top: "c" }
    layers { name: "fc" type: INNER_PRODUCT bottom: "c" top: "fc" }
    """
    graph = graph_of(text)
    assert [(n.name, n.op) for n in graph] == [("c", "Convolution"), ("r", "ReLU"),
                                               ("fc", "InnerProduct")]
    assert graph.inputs[0].shape is None
    assert layer_type(parse_prototxt('type: "TanH"')) == "TanH"


@pytest.mark.parametrize(("text", "message"), [
    ('input: "data"\nlayer {\n  name: "x"\n', "line 2: block opened here has no closing '}'"),
    ('input: "data"\nlayer {\n  name "x" }', "line 3: expected ':' or '{' after 'name'"),
    ('input: "data"\n\nlayer { name: "x" @ }', "line 3: unexpected '@'"),
    ('input: "data"\nname: "abc\n', "line 2: unterminated string"),
    ('input: "data"\n}', "line 2: expected a field name, got '}'"),
    ('input: "data"\nx: 1.2.3', "line 2: cannot read value '1.2.3'"),
    ('input: "data"\n\nx: "a\\q"', 'line 3: bad escape in string "a\\q"'),
])
def test_syntax_errors_name_the_line(text: str, message: str):
    with pytest.raises(ModelLoadError, match=r"^t\.prototxt: ") as caught:
        graph_of(text)
    assert caught.value.problem == message


def test_dangling_bottom_names_layer_blob_and_line():
    text = CHAIN.replace('bottom: "conv1" top: "pool1"', 'bottom: "conv9" top: "pool1"')
    with pytest.raises(ModelLoadError) as caught:
        graph_of(text)
    assert caught.value.problem == ("line 14: layer 'pool1' reads blob 'conv9' that no earlier "
                                    "layer or input produces")


def test_duplicate_names_and_mixed_layer_kinds_are_errors():
    with pytest.raises(ModelLoadError, match="line 11: duplicate layer name 'bn1'"):
        graph_of(CHAIN.replace('name: "scale1"', 'name: "bn1"'))
    with pytest.raises(ModelLoadError, match="mixes 'layer' and legacy 'layers'"):
        graph_of(CHAIN + 'layers { name: "old" type: RELU bottom: "pool1" top: "pool1" }')
    with pytest.raises(ModelLoadError, match="layer has no name"):
        graph_of('input: "d"\nlayer { type: "ReLU" bottom: "d" top: "d" }')


def test_load_prototxt_reports_unreadable_files(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="cannot read prototxt"):
        load_prototxt(tmp_path / "missing.prototxt")
    path = tmp_path / "chain.prototxt"
    path.write_text(CHAIN, encoding="utf-8")
    assert load_prototxt(path).one("name") == "chain"
