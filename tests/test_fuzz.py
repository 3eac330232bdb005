"""Property tests: the framework-free parsers raise nothing but ParityError on any input.

Random bytes and text, and mutations of the real fixtures, go through format sniffing,
the prototxt parser and graph builder, the symbol JSON reader, the mapping-file reader,
the config reader, the .npy/.npz reader (headers checked before data), the image-header
reader and the saved report.json reader. Bounded so the whole file runs in well under a
minute.
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
from parity.image_header import image_size
from parity.inputs import load_arrays
from parity.limits import check_depth, using
from parity.prototxt import build_graph, graph_inputs, input_transform, parse_prototxt
from parity.saved_run import load_report
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


# -- .npy / .npz headers ----------------------------------------------------------------

def _npy(header: dict[str, Any], body: bytes, version: tuple[int, int] = (1, 0)) -> bytes:
    import io

    import numpy as np

    buffer = io.BytesIO()
    try:
        np.lib.format._write_array_header(buffer, header, version)
    except (ValueError, TypeError):
        return b"\x93NUMPY\x01\x00" + body
    return buffer.getvalue() + body


_DESCR = st.sampled_from(["<f4", "<f8", ">i8", "|u1", "|b1", "<c8", "|O", "<U3", "V8",
                          "<f2", "x", "", "[('a', '<f4')]"])
_SHAPE = st.lists(st.integers(-2, 10**12) | st.sampled_from([0, 1, 3, 2**31, 2**63]),
                  max_size=5).map(tuple)


@FUZZ
@given(descr=_DESCR, shape=_SHAPE, fortran=st.booleans(), body=st.binary(max_size=300),
       version=st.sampled_from([(1, 0), (2, 0), (3, 0)]))
def test_npy_headers(descr: str, shape: tuple[int, ...], fortran: bool, body: bytes,
                     version: tuple[int, int]) -> None:
    data = _npy({"descr": descr, "fortran_order": fortran, "shape": shape}, body, version)
    with using(tensor_bytes=1 << 20), _file("x.npy", data) as path:
        _only_parity_errors(lambda: load_arrays(path))


@FUZZ
@given(members=st.dictionaries(st.text("abc/.", min_size=1, max_size=6),
                               st.tuples(_DESCR, _SHAPE, st.binary(max_size=64)), max_size=3),
       compressed=st.booleans())
def test_npz_members(members: dict[str, tuple[str, tuple[int, ...], bytes]],
                     compressed: bool) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", compression=mode) as archive:
        for name, (descr, shape, body) in members.items():
            header = {"descr": descr, "fortran_order": False, "shape": shape}
            archive.writestr(f"{name}.npy", _npy(header, body))
    with using(tensor_bytes=1 << 20), _file("x.npz", buffer.getvalue()) as path:
        _only_parity_errors(lambda: load_arrays(path))


# -- image headers ----------------------------------------------------------------------

_IMAGE_MAGIC = st.sampled_from([b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"GIF89a", b"BM",
                                b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"RIFF....WEBPVP8L",
                                b"RIFF....WEBPVP8X", b"\xff\xd8", b"\xff\xd8\xff\xc0",
                                b"P6\n", b"P5 # c\n", b""])


@FUZZ
@given(head=_IMAGE_MAGIC, body=st.binary(max_size=200))
def test_image_headers(head: bytes, body: bytes) -> None:
    with _file("image.bin", head + body) as path:
        size = image_size(path)
    assert size is None or (len(size) == 2 and all(int(v) >= 0 for v in size))


# -- saved report.json ------------------------------------------------------------------

REPORT = {
    "a": {"path": "a.onnx", "backend": "onnxrt"}, "b": {"path": "b.pt", "backend": "pytorch"},
    "tolerance": {"atol": 1e-5, "rtol": 1e-5}, "ok": False, "pairs": [
        {"a": "x", "b": "x", "op": "Conv", "how": "name", "shape_a": [1, 4], "shape_b": [1, 4],
         "status": "ok", "max_abs": 0.0, "mean_abs": 0.0, "max_rel": 0.0, "cosine": 1.0,
         "nan": [0, 0], "inf": [0, 0], "channel_max_abs": [0.0]}],
    "first_divergence": None, "unmatched_a": [], "unmatched_b": [], "hints": [],
    "coverage": {"min": 0.5},
}


@FUZZ
@given(data=st.data())
def test_report_json_mutated(data: st.DataObject) -> None:
    report = json.loads(json.dumps(REPORT))
    targets = [report, report["pairs"][0], report["a"], report["tolerance"], report["coverage"]]
    for _ in range(data.draw(st.integers(1, 3))):
        target = data.draw(st.sampled_from(targets))
        key = data.draw(st.sampled_from(sorted(target) or ["x"]) | st.text(max_size=4))
        if data.draw(st.booleans()):
            target[key] = data.draw(_JSON)
        else:
            target.pop(key, None)
    with _file("report.json", json.dumps(report).encode()) as path:
        _only_parity_errors(lambda: load_report(path))


@FUZZ
@given(data=st.binary(max_size=300))
def test_report_json_random_bytes(data: bytes) -> None:
    with _file("report.json", data) as path:
        _only_parity_errors(lambda: load_report(path))


# -- nesting ----------------------------------------------------------------------------

@FUZZ
@given(text=st.text(st.sampled_from('[]{}<>"\'\\#\nab'), max_size=400),
       depth=st.integers(1, 20))
def test_depth_check_matches_json_nesting(text: str, depth: int) -> None:
    """Where the JSON parses, the counted depth is its real nesting."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return
    real = _nesting(document)
    with using(depth=depth):
        if real > depth:
            _expect_refusal(lambda: check_depth(text, "doc"))
        else:
            check_depth(text, "doc")


def _nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    return 0


def _expect_refusal(call: Callable[[], Any]) -> None:
    try:
        call()
    except ParityError as exc:
        assert "nested more than" in str(exc)
    else:
        raise AssertionError("deep document accepted")
