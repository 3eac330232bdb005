"""Property tests: the framework-free parsers raise nothing but ParityError on any input.

Random bytes and text, and mutations of the real fixtures, go through format sniffing,
the prototxt parser and graph builder, the symbol JSON reader, the mapping-file reader
and the config reader. Bounded so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES
from parity.align.mapping_file import read_mapping
from parity.config import preprocessing_options
from parity.errors import ParityError
from parity.formats import sniff
from parity.prototxt import build_graph, graph_inputs, input_transform, parse_prototxt
from parity.symbol_json import read_symbol

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROTOTXT = (FIXTURES / "mobilefacenet" / "model.prototxt").read_text()
SYMBOL = json.loads((FIXTURES / "mobilefacenet" / "model-symbol.json").read_text())
SUFFIXES = (".onnx", ".pt", ".pt2", ".pth", ".json", "-symbol.json", ".params", ".prototxt",
            ".caffemodel", ".h5", ".keras", ".npy", ".bin", "", ".py")


@contextmanager
def _file(name: str, data: bytes) -> Iterator[Path]:
    """``data`` written to a fresh temporary file called ``name``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        yield path


def _only_parity_errors(call: Callable[[], Any]) -> None:
    try:
        call()
    except ParityError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()


# -- format sniffing -----------------------------------------------------------------

_MAGIC = st.sampled_from([b"", b"PK\x03\x04", b"\x89HDF\r\n\x1a\n", b"\x08\x07\x12", b"{",
                          b"name: ", b"layer {", b"\x80\x02"])


@FUZZ
@given(head=_MAGIC, body=st.binary(max_size=300), suffix=st.sampled_from(SUFFIXES))
def test_sniff_random_bytes(head: bytes, body: bytes, suffix: str) -> None:
    with _file(f"model{suffix}", head + body) as path:
        _only_parity_errors(lambda: sniff(str(path)))


@FUZZ
@given(spec=st.text(max_size=60) | st.text("a/.:", min_size=200, max_size=5000))
def test_sniff_random_specs(spec: str) -> None:
    _only_parity_errors(lambda: sniff(spec))


# -- prototxt -------------------------------------------------------------------------

_PROTO_TOKENS = st.sampled_from([
    "layer", "layers", "{", "}", ":", "[", "]", ",", ";", "<", ">", '"x"', "'y'", "name",
    "type", "bottom", "top", "input", "input_dim", "input_shape", "dim", "1", "-3", "0x1f",
    "2.5e-3", "inf", "nan", "true", "FLOOR", "pooling_param", "kernel_size", "round_mode",
    "pool", "convolution_param", "eltwise_param", "coeff", "operation", "transform_param",
    "mean_value", "mean_file", "scale", "input_param", "shape", '"Convolution"', '"Input"',
    '"Pooling"', '"Eltwise"', "\n", "#c\n", '"\\x"', '"\\q"', "Data", "\"", "'", "@",
])


def _parse_and_build(text: str) -> None:
    net = parse_prototxt(text, "fuzz.prototxt")
    graph_inputs(net)
    input_transform(net)
    build_graph(net, "fuzz.prototxt")


@FUZZ
@given(tokens=st.lists(_PROTO_TOKENS, max_size=60))
def test_prototxt_token_soup(tokens: list[str]) -> None:
    _only_parity_errors(lambda: _parse_and_build(" ".join(tokens)))


@FUZZ
@given(text=st.text(max_size=300))
def test_prototxt_random_text(text: str) -> None:
    _only_parity_errors(lambda: _parse_and_build(text))


@FUZZ
@given(data=st.data())
def test_prototxt_mutated_fixture(data: st.DataObject) -> None:
    text = PROTOTXT
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 40)))
        text = text[:start] + data.draw(_PROTO_TOKENS | st.text(max_size=5)) + text[end:]
    _only_parity_errors(lambda: _parse_and_build(text))


# -- symbol JSON ----------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["null", "Convolution", "(3, 3)", "True", "x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["nodes", "heads", "op", "name", "inputs", "attrs", "attr", "param",
                         "__shape__", "__dtype__", "kernel", "arg_nodes"]) | st.text(max_size=4),
        inner, max_size=5),
    max_leaves=25,
)


def _read_symbol_text(text: str) -> None:
    with _file("fuzz-symbol.json", text.encode("utf-8", "surrogatepass")) as path:
        read_symbol(path, ["fc1_weight", "arg:conv_1_conv2d_weight"])


@FUZZ
@given(nodes=st.lists(_JSON, max_size=6), heads=_JSON)
def test_symbol_random_structures(nodes: list[Any], heads: Any) -> None:
    text = json.dumps({"nodes": nodes, "heads": heads})
    _only_parity_errors(lambda: _read_symbol_text(text))


@FUZZ
@given(document=_JSON)
def test_symbol_random_json(document: Any) -> None:
    _only_parity_errors(lambda: _read_symbol_text(json.dumps(document)))


@FUZZ
@given(data=st.data())
def test_symbol_mutated_fixture(data: st.DataObject) -> None:
    symbol = json.loads(json.dumps(SYMBOL))
    nodes = symbol["nodes"]
    for _ in range(data.draw(st.integers(1, 3))):
        node = nodes[data.draw(st.integers(0, len(nodes) - 1))]
        key = data.draw(st.sampled_from(["op", "name", "inputs", "attrs"]))
        if key == "attrs" and isinstance(node.get("attrs"), dict) and node["attrs"]:
            attr = data.draw(st.sampled_from(sorted(node["attrs"])))
            node["attrs"][attr] = data.draw(_JSON)
        else:
            node[key] = data.draw(_JSON)
    _only_parity_errors(lambda: _read_symbol_text(json.dumps(symbol)))


# -- mapping and config files ---------------------------------------------------------

_TOML_TOKENS = st.sampled_from([
    "a", "b", "[a]", "[b]", "[c]", "[[a]]", "=", '"x"', "'y'", "1", "2.5", "true", "[", "]",
    "{", "}", ",", ".", "\n", "rgb", "mean", "scale", "std", "layout", "size", '"NCHW"',
    '"1,2,3"', '"224x224"', "[1, 2]", "nan", "inf", "#", '"""', "a.b",
])


@FUZZ
@given(tokens=st.lists(_TOML_TOKENS, max_size=30), suffix=st.sampled_from([".toml", ".json"]))
def test_mapping_token_soup(tokens: list[str], suffix: str) -> None:
    with _file(f"map{suffix}", " ".join(tokens).encode()) as path:
        _only_parity_errors(lambda: read_mapping(path))


@FUZZ
@given(document=_JSON, data=st.binary(max_size=200), suffix=st.sampled_from([".toml", ".json"]))
def test_mapping_random_files(document: Any, data: bytes, suffix: str) -> None:
    for content in (json.dumps(document).encode(), data):
        with _file(f"map{suffix}", content) as path:
            _only_parity_errors(lambda path=path: read_mapping(path))


_CLI_VALUES = st.none() | st.text(max_size=12) | st.sampled_from(
    ["1,2,3", "224x224", "NCHW", "NHWC", "0.5", "x", ",", "1e400"])


@FUZZ
@given(tokens=st.lists(_TOML_TOKENS, max_size=30),
       cli=st.dictionaries(st.sampled_from(["a_mean", "b_std", "a_size", "b_layout", "a_scale",
                                            "b_rgb"]), _CLI_VALUES, max_size=3))
def test_config_token_soup(tokens: list[str], cli: dict[str, Any]) -> None:
    with _file("parity.toml", " ".join(tokens).encode()) as path:
        _only_parity_errors(lambda: preprocessing_options(path, cli))


@FUZZ
@given(data=st.binary(max_size=200))
def test_config_random_bytes(data: bytes) -> None:
    with _file("parity.toml", data) as path:
        _only_parity_errors(lambda: preprocessing_options(path, {}))
