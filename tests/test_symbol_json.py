"""The framework-free MXNet symbol reader: graph, attributes, variables, errors (no mxnet)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES
from parity.errors import ModelLoadError
from parity.symbol_json import load_graph, normalise_attrs, parse_ints, read_symbol

MOBILEFACENET = FIXTURES / "mobilefacenet" / "model-symbol.json"


def var(name: str, **attrs: str) -> dict:
    return {"op": "null", "name": name, "inputs": [], **({"attrs": attrs} if attrs else {})}


def op(kind: str, name: str, inputs: list[int], **attrs: str) -> dict:
    return {"op": kind, "name": name, "inputs": [[i, 0, 0] for i in inputs],
            **({"attrs": attrs} if attrs else {})}


def write(tmp_path: Path, nodes: list[dict], heads: list | None = None,
          name: str = "net-symbol.json") -> Path:
    path = tmp_path / name
    heads = heads if heads is not None else [[len(nodes) - 1, 0, 0]]
    path.write_text(json.dumps({"nodes": nodes, "arg_nodes": [], "heads": heads}))
    return path


def test_reader_imports_no_framework():
    code = ("import sys, parity.symbol_json as s; s.load_graph(sys.argv[1]); "
            "assert 'mxnet' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(MOBILEFACENET)], check=True)


def test_mobilefacenet_fixture_graph():
    graph = load_graph(MOBILEFACENET)
    assert [(s.name, s.shape) for s in graph.inputs] == [("data", None)]
    assert graph.outputs == ("fc1",)
    assert [n.name for n in graph.nodes[:6]] == [
        "_minusscalar0", "_mulscalar0", "conv_1_conv2d", "conv_1_batchnorm", "conv_1_relu",
        "conv_2_dw_conv2d"]
    assert [n.op for n in graph.nodes[:5]] == [
        "_minus_scalar", "_mul_scalar", "Convolution", "BatchNorm", "LeakyReLU"]
    assert graph.node("_minusscalar0").inputs == ("data",)
    assert graph.node("_minusscalar0").attrs["scalar"] == 127.5
    assert graph.node("_mulscalar0").attrs["scalar"] == 0.0078125
    conv = graph.node("conv_1_conv2d")
    assert conv.inputs == ("_mulscalar0",)
    assert conv.attrs.items() >= {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1),
                                  "dilation": (1, 1), "group": 1, "num_filter": 16,
                                  "no_bias": True}.items()
    bn = graph.node("conv_1_batchnorm").attrs
    assert (bn["eps"], bn["fix_gamma"], bn["momentum"]) == (1e-3, False, 0.9)
    fc1 = graph.node("fc1").attrs
    assert (fc1["eps"], fc1["fix_gamma"]) == (2e-5, True)
    assert graph.node("conv_2_dw_conv2d").attrs["group"] == 16
    assert graph.node("conv_6dw7_7_conv2d").attrs["kernel"] == (7, 7)
    assert graph.node("conv_1_relu").attrs["act_type"] == "prelu"
    assert graph.node("pre_fc1").attrs["num_hidden"] == 64
    assert graph.node("_plus0").op == "elemwise_add"
    assert graph.node("_plus0").inputs == ("res_3_block0_conv_proj_batchnorm",
                                           "dconv_23_conv_proj_batchnorm")
    assert not any(n.op == "null" or n.name.endswith("_weight") for n in graph.nodes)


def test_parameters_of_each_node():
    symbol = read_symbol(MOBILEFACENET)
    assert symbol.params_of("conv_1_batchnorm") == tuple(
        f"conv_1_batchnorm_{p}" for p in ("gamma", "beta", "moving_mean", "moving_var"))
    assert symbol.params_of("conv_1_relu") == ("conv_1_relu_gamma",)
    assert symbol.params_of("_plus0") == ()
    assert "pre_fc1_bias" in symbol.param_names and "data" not in symbol.param_names


def test_pooling_convention_becomes_ceil_mode(tmp_path):
    path = write(tmp_path, [
        var("data"),
        op("Pooling", "full", [0], kernel="(2, 2)", stride="(2,2)", pooling_convention="full"),
        op("Pooling", "valid", [1], kernel="(3,3)", pool_type="avg",
           pooling_convention="valid"),
        op("Pooling", "default", [2], kernel="(2, 2)"),
        op("Pooling", "global", [3], global_pool="True", pool_type="avg", kernel="(1, 1)"),
    ])
    graph = load_graph(path)
    assert [graph.node(n).attrs["ceil_mode"] for n in ("full", "valid", "default", "global")] \
        == [True, False, False, False]
    assert graph.node("default").attrs.items() >= {
        "pool_type": "max", "stride": (1, 1), "pad": (0, 0), "global_pool": False}.items()
    assert "dilation" not in graph.node("default").attrs
    assert graph.node("global").attrs["global_pool"] is True


def test_variables_split_into_data_params_and_labels(tmp_path):
    path = write(tmp_path, [
        var("data", __shape__="(1, 3, 0, 0)"),
        var("mask"),
        op("broadcast_mul", "masked", [0, 1]),
        var("fc_weight"),
        var("offset"),
        op("FullyConnected", "fc", [2, 3, 4], num_hidden="2", no_bias="False"),
        var("softmax_label"),
        op("SoftmaxOutput", "softmax", [5, 6]),
    ])
    symbol = read_symbol(path)
    assert [(s.name, s.shape) for s in symbol.graph.inputs] == [
        ("data", (1, 3, None, None)), ("mask", None)]
    assert symbol.graph.node("masked").inputs == ("data", "mask")
    assert symbol.params_of("fc") == ("fc_weight", "offset")
    assert symbol.graph.node("softmax").inputs == ("fc",)
    assert symbol.labels == ("softmax_label",)
    with_params = read_symbol(path, ["arg:mask", "arg:fc_weight", "arg:offset"])
    assert with_params.graph.input_names == ("data",)
    assert with_params.params_of("masked") == ("mask",)


def test_legacy_param_and_attr_keys(tmp_path):
    path = write(tmp_path, [
        {"op": "null", "name": "data", "inputs": [], "attr": {"__shape__": "(1,3,8,8)"}},
        {"op": "Convolution", "name": "conv", "inputs": [[0, 0]],
         "param": {"kernel": "[3,3]", "num_filter": "4", "num_group": "1", "dilate": "(2,2)"}},
        {"op": "BatchNorm", "name": "bn", "inputs": [[1, 0]], "param": {"eps": "1e-05"}},
    ])
    graph = load_graph(path)
    assert graph.inputs[0].shape == (1, 3, 8, 8)
    assert graph.node("conv").attrs.items() >= {
        "kernel": (3, 3), "dilation": (2, 2), "stride": (1, 1), "no_bias": False}.items()
    assert graph.node("bn").attrs["eps"] == 1e-5
    assert graph.node("bn").attrs["fix_gamma"] is True


def test_unknown_attributes_are_parsed_best_effort():
    attrs = normalise_attrs("Reshape", {"shape": "(0, -1)", "reverse": "False", "mode": "x y"})
    assert attrs == {"shape": (0, -1), "reverse": False, "mode": "x y"}


@pytest.mark.parametrize(("text", "value"), [
    ("(3, 3)", (3, 3)), ("[1,2]", (1, 2)), ("(3,)", (3,)), ("5", (5,))])
def test_parse_ints(text, value):
    assert parse_ints(text) == value


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "not valid JSON"),
    ('{"heads": []}', "no 'nodes' list"),
    ('{"nodes": []}', "no 'heads' list"),
    ('{"nodes": [{"name": "data", "inputs": []}], "heads": []}', "missing key 'op'"),
    ('{"nodes": [{"op": "relu", "name": "r", "inputs": [[1, 0, 0]]}, '
     '{"op": "null", "name": "x", "inputs": []}], "heads": []}', "not an earlier node"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": []}], "heads": [[4, 0, 0]]}',
     "does not exist"),
    ('{"nodes": [{"op": "Convolution", "name": "c", "inputs": [], '
     '"attrs": {"kernel": "(3, x)"}}], "heads": []}', "node 'c': bad kernel='(3, x)'"),
    ('{"nodes": [{"op": "BatchNorm", "name": "b", "inputs": [], '
     '"attrs": {"fix_gamma": "maybe"}}], "heads": []}', "bad fix_gamma='maybe'"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "broken-symbol.json"
    path.write_text(content)
    with pytest.raises(ModelLoadError) as info:
        load_graph(path)
    message = str(info.value)
    assert message.startswith(str(path)) and problem in message
    assert "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot read the symbol file"):
        load_graph(tmp_path / "absent-symbol.json")
