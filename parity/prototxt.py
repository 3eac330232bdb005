"""Caffe ``.prototxt`` text -> plain data -> a parity :class:`Graph` (standard library only).

The parser knows protobuf text syntax, not Caffe's schema: every block becomes a
:class:`Message`, a dict mapping each field name to the list of its values in file order.

In the graph, each layer is one node named after the layer. Caffe layers often run
in place (``BatchNorm`` -> ``Scale`` -> ``ReLU`` all with ``top: "conv1"``); a bottom is
resolved to the most recent layer that wrote the blob, so every layer's own output stays
addressable by its layer name. Input and data layers are graph inputs, not nodes.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelLoadError, shown_path
from .graph import Graph, Node, Shape, TensorSpec
from .limits import check_depth

DATA_LAYERS = frozenset({"Input", "Data", "ImageData", "MemoryData", "HDF5Data", "DummyData",
                         "WindowData"})
_V1_TYPES = {"ABSVAL": "AbsVal", "ARGMAX": "ArgMax", "BNLL": "BNLL", "HDF5_DATA": "HDF5Data",
             "HDF5_OUTPUT": "HDF5Output", "LRN": "LRN", "MVN": "MVN", "RELU": "ReLU",
             "TANH": "TanH", "SOFTMAX_LOSS": "SoftmaxWithLoss"}
_POOL = ("MAX", "AVE", "STOCHASTIC")
_ELTWISE = ("PROD", "SUM", "MAX")
_ROUND = ("CEIL", "FLOOR")

_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\f\v]+) | (?P<newline>\n) | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<word>[A-Za-z0-9_.+\-]+)
  | (?P<punct>[{}:\[\],;<>])
""", re.VERBOSE)
_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)")
_FLOAT = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?f?|inf(?:inity)?|nan)", re.I)
_IDENT = re.compile(r"[A-Za-z_]\w*")
_CLOSE = {"{": "}", "<": ">"}


class Message(dict[str, list[Any]]):
    """One ``{ ... }`` block: field name -> its values in file order; ``line`` where it starts.

    The typed accessors (:meth:`blocks`, :meth:`texts`, :meth:`numbers`) raise
    :class:`ModelLoadError` naming the file and line when a value has the wrong kind.
    """

    def __init__(self, line: int = 0, source: str | Path = "<prototxt>") -> None:
        super().__init__()
        self.line = line
        self.source = source

    def fail(self, problem: str) -> ModelLoadError:
        """An error about this block, with the file and line."""
        return ModelLoadError(self.source, f"line {self.line}: {problem}")

    def one(self, key: str, default: Any = None) -> Any:
        """The field's value (the last one when repeated), or ``default`` when absent."""
        values = self.get(key)
        return values[-1] if values else default

    def many(self, key: str) -> list[Any]:
        """All values of a repeated field, in file order."""
        return self.get(key, [])

    def block(self, key: str) -> Message:
        """A nested block, or an empty one when absent (so defaults apply)."""
        found = self.one(key)
        return found if isinstance(found, Message) else Message(self.line, self.source)

    def blocks(self, key: str) -> list[Message]:
        """All values of ``key``, each a ``{ ... }`` block."""
        return [self._checked(key, v, Message, "a { } block") for v in self.many(key)]

    def texts(self, key: str) -> list[str]:
        """All values of ``key``, each a string (a bare word counts: enum-like names)."""
        return [self._checked(key, v, str, "a string") for v in self.many(key)]

    def text(self, key: str, default: str = "") -> str:
        """The last value of a string field, or ``default``."""
        values = self.texts(key)
        return values[-1] if values else default

    def numbers(self, key: str) -> list[float]:
        """All values of ``key``, each a number."""
        return [float(self._checked(key, v, (int, float), "a number")) for v in self.many(key)]

    def ints(self, key: str) -> list[int]:
        """All values of ``key``, each an integer."""
        return [self._checked(key, v, int, "an integer") for v in self.many(key)]

    def _checked(self, key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, kind):
            shown = "a { } block" if isinstance(value, Message) else repr(value)
            raise self.fail(f"{key} must be {what}, got {shown}")
        return value


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int


class _Parser:
    """Recursive descent over protobuf text-format tokens."""

    def __init__(self, text: str, source: str | Path) -> None:
        self.source = source
        self.tokens = list(self._tokenize(text))
        self.pos = 0

    def fail(self, line: int, problem: str) -> ModelLoadError:
        return ModelLoadError(self.source, f"line {line}: {problem}")

    def _tokenize(self, text: str) -> list[_Token]:
        tokens, line, pos = [], 1, 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                what = "unterminated string" if text[pos] in "\"'" else f"unexpected {text[pos]!r}"
                raise self.fail(line, what)
            kind = match.lastgroup or ""
            if kind in ("string", "word", "punct"):
                tokens.append(_Token(kind, match.group(), line))
            line += kind == "newline"
            pos = match.end()
        return tokens

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token | None:
        token = self.peek()
        self.pos += token is not None
        return token

    def message(self, opened: _Token | None = None) -> Message:
        """Fields up to the closing bracket of ``opened`` (or the end of the text)."""
        block = Message(opened.line if opened else 1, self.source)
        closing = _CLOSE[opened.text] if opened else None
        while True:
            token = self.take()
            if token is None:
                if opened is not None:
                    raise self.fail(opened.line, f"block opened here has no closing {closing!r}")
                return block
            if token.text == closing:
                return block
            if token.text in ";,":
                continue
            if token.kind != "word" or not _IDENT.fullmatch(token.text):
                raise self.fail(token.line, f"expected a field name, got {token.text!r}")
            block.setdefault(token.text, []).extend(self.field_values(token))

    def field_values(self, key: _Token) -> list[Any]:
        """What follows a field name: ``{...}``, ``: value``, ``: [v, ...]`` or ``: {...}``."""
        following = self.peek()
        colon = following is not None and following.text == ":"
        if colon:
            self.take()
        token = self.take()
        if token is None:
            raise self.fail(key.line, f"field {key.text!r} has no value")
        if token.text in _CLOSE:
            return [self.message(token)]
        if not colon:
            raise self.fail(token.line, f"expected ':' or '{{' after {key.text!r}")
        if token.text == "[":
            return self.list_values(token)
        return [self.scalar(token)]

    def list_values(self, opened: _Token) -> list[Any]:
        values: list[Any] = []
        while True:
            token = self.take()
            if token is None:
                raise self.fail(opened.line, "list opened here has no closing ']'")
            if token.text == "]":
                return values
            if token.text != ",":
                values.append(self.message(token) if token.text in _CLOSE else self.scalar(token))

    def scalar(self, token: _Token) -> Any:
        """A string, number, bool or enum name."""
        if token.kind == "string":
            text = self.unquote(token)
            while (following := self.peek()) is not None and following.kind == "string":
                text += self.unquote(following)
                self.take()
            return text
        if token.kind != "word":
            raise self.fail(token.line, f"expected a value, got {token.text!r}")
        value = _word_value(token.text)
        if value is None:
            raise self.fail(token.line, f"cannot read value {token.text!r}")
        return value

    def unquote(self, token: _Token) -> str:
        """A quoted string's value; protobuf's escapes are Python's."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # unknown escapes are errors, as in protobuf
                return str(ast.literal_eval(token.text))
        except (ValueError, SyntaxError, Warning):
            raise self.fail(token.line, f"bad escape in string {token.text}") from None


def _word_value(text: str) -> Any:
    """Bool, int, float or enum identifier for a bare word; None when it is none of them."""
    if text in ("true", "True", "t"):
        return True
    if text in ("false", "False", "f"):
        return False
    if _INT.fullmatch(text):
        return int(text, 16) if "x" in text.lower() else int(text)
    if _FLOAT.fullmatch(text):
        suffixed = text[-1] in "fF" and (text[-2:-1].isdigit() or text[-2:-1] == ".")
        return float(text[:-1] if suffixed else text)
    if _IDENT.fullmatch(text):
        return text
    return None


def parse_prototxt(text: str, source: str | Path = "<prototxt>") -> Message:
    """Parse prototxt ``text``; syntax errors raise :class:`ModelLoadError` with a line number."""
    check_depth(text, shown_path(source), "{<")
    return _Parser(text, source).message()


def load_prototxt(path: Path) -> Message:
    """Read and parse a ``.prototxt`` file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(path, f"cannot read prototxt ({exc})") from None
    return parse_prototxt(text, path)


def layers(net: Message) -> list[Message]:
    """The net's layers: ``layer`` blocks, or legacy ``layers`` blocks (V1 nets)."""
    return net.blocks("layer") or net.blocks("layers")


def layer_type(layer: Message) -> str:
    """The layer's type; legacy enum names (``INNER_PRODUCT``) become ``InnerProduct``."""
    kind = layer.text("type")
    if not kind.isupper():
        return kind
    return _V1_TYPES.get(kind) or "".join(part.capitalize() for part in kind.split("_"))


def graph_inputs(net: Message) -> list[TensorSpec]:
    """Inputs from top-level ``input`` fields and from Input/data layers, with shapes."""
    specs = []
    shapes = net.blocks("input_shape")
    dims = net.ints("input_dim")
    for index, name in enumerate(net.texts("input")):
        if index < len(shapes):
            shape: Shape | None = tuple(shapes[index].ints("dim"))
        elif dims:
            shape = tuple(dims[4 * index: 4 * index + 4]) or None
        else:
            shape = None
        specs.append(TensorSpec(name, shape))
    for layer in layers(net):
        if layer_type(layer) in DATA_LAYERS:
            layer_shapes = layer.block("input_param").blocks("shape")
            for index, top in enumerate(layer.texts("top")):
                chosen = layer_shapes[min(index, len(layer_shapes) - 1)] if layer_shapes else None
                specs.append(TensorSpec(top, tuple(chosen.ints("dim")) if chosen else None))
    return specs


def input_transform(net: Message) -> dict[str, dict[str, Any]]:
    """Preprocessing declared by data layers' ``transform_param``, keyed by input name.

    Caffe feeds ``(x - mean) * scale``: ``{"data": {"mean": (104.0, 117.0, 123.0),
    "scale": 1.0}}``; ``mean_file``, ``crop_size`` and ``mirror`` appear when set.
    """
    found = {}
    for layer in layers(net):
        param = layer.one("transform_param")
        tops = layer.texts("top")
        if layer_type(layer) in DATA_LAYERS and isinstance(param, Message) and tops:
            scales = param.numbers("scale")
            transform: dict[str, Any] = {
                "mean": tuple(param.numbers("mean_value")),
                "scale": scales[-1] if scales else 1.0,
            }
            # Reported only: parity never opens a file a model names (mean_file).
            transform.update({k: param.one(k) for k in ("mean_file", "crop_size", "mirror")
                              if k in param and not isinstance(param.one(k), Message)})
            found[tops[0]] = transform
    return found


def build_graph(net: Message, source: str | Path = "<prototxt>") -> Graph:
    """One node per (non-data) layer, bottoms resolved to the layer that last wrote them."""
    if net.many("layer") and net.many("layers"):
        raise net.blocks("layers")[0].fail("mixes 'layer' and legacy 'layers' blocks")
    inputs = tuple(graph_inputs(net))
    producer = {spec.name: spec.name for spec in inputs}
    unread: dict[str, None] = {}
    nodes: list[Node] = []
    taken: set[str] = set()
    for layer in layers(net):
        kind = layer_type(layer)
        if kind in DATA_LAYERS:
            continue
        name = _layer_name(layer, taken)
        reads = []
        for bottom in layer.texts("bottom"):
            if bottom not in producer:
                raise layer.fail(f"layer {name!r} reads blob {bottom!r} that no earlier layer "
                                 "or input produces")
            reads.append(producer[bottom])
            unread.pop(bottom, None)
        for top in layer.texts("top"):
            producer[top] = name
            unread[top] = None
        nodes.append(Node(name, kind, tuple(dict.fromkeys(reads)), layer_attrs(kind, layer)))
    outputs = tuple(dict.fromkeys(producer[blob] for blob in unread))
    return Graph(tuple(nodes), inputs, outputs, source=str(source))


def _layer_name(layer: Message, taken: set[str]) -> str:
    name = layer.text("name")
    if not name:
        raise layer.fail("layer has no name")
    if name in taken:
        raise layer.fail(f"duplicate layer name {name!r}")
    taken.add(name)
    return name


def layer_attrs(kind: str, layer: Message) -> dict[str, Any]:
    """Normalised attributes with Caffe's defaults filled in; raw params for other types."""
    normalise = _NORMALISERS.get(kind)
    if normalise is None:
        return _raw_params(layer)
    try:
        return normalise(layer)
    except (TypeError, ValueError, IndexError) as exc:
        raise layer.fail(f"layer {layer.one('name')!r} ({kind}): bad parameter ({exc})") from None


def _raw_params(layer: Message) -> dict[str, Any]:
    """Scalar fields of the layer's ``*_param`` blocks, repeated ones as tuples."""
    attrs: dict[str, Any] = {}
    for key, values in layer.items():
        if key.endswith("_param") and isinstance(values[-1], Message):
            for field, items in values[-1].items():
                if not any(isinstance(v, Message) for v in items):
                    attrs[field] = items[0] if len(items) == 1 else tuple(items)
    return attrs


def _pair(param: Message, key: str, default: int | None) -> tuple[int, ...] | None:
    """``key`` (one value for all axes, or one per axis) or ``key_h``/``key_w``."""
    base = key.removesuffix("_size")
    if f"{base}_h" in param or f"{base}_w" in param:
        return (param.one(f"{base}_h", default), param.one(f"{base}_w", default))
    values = param.many(key)
    if not values:
        return None if default is None else (default, default)
    return (values[0], values[0]) if len(values) == 1 else tuple(values)


def _enum(value: Any, names: tuple[str, ...]) -> str:
    return names[value] if isinstance(value, int) and 0 <= value < len(names) else str(value)


def _conv(layer: Message) -> dict[str, Any]:
    param = layer.block("convolution_param")
    return {"num_output": param.one("num_output"), "kernel": _pair(param, "kernel_size", None),
            "stride": _pair(param, "stride", 1), "pad": _pair(param, "pad", 0),
            "dilation": _pair(param, "dilation", 1), "group": param.one("group", 1),
            "bias_term": param.one("bias_term", True)}


def _pooling(layer: Message) -> dict[str, Any]:
    param = layer.block("pooling_param")
    ceil_mode = bool(param.one("ceil_mode", True))  # OpenCV's own field
    if "round_mode" in param:  # BVLC Caffe's field
        ceil_mode = _enum(param.one("round_mode"), _ROUND) == "CEIL"
    attrs = {"pool": _enum(param.one("pool", 0), _POOL), "global_pooling":
             param.one("global_pooling", False), "ceil_mode": ceil_mode,
             "stride": _pair(param, "stride", 1), "pad": _pair(param, "pad", 0)}
    kernel = _pair(param, "kernel_size", None)
    return attrs if kernel is None else {"kernel": kernel, **attrs}


def _batchnorm(layer: Message) -> dict[str, Any]:
    param = layer.block("batch_norm_param")
    return {"eps": float(param.one("eps", 1e-5)),
            "use_global_stats": param.one("use_global_stats", True)}


def _scale(layer: Message) -> dict[str, Any]:
    param = layer.block("scale_param")
    return {"bias_term": param.one("bias_term", False), "axis": param.one("axis", 1),
            "num_axes": param.one("num_axes", 1)}


def _prelu(layer: Message) -> dict[str, Any]:
    return {"channel_shared": layer.block("prelu_param").one("channel_shared", False)}


def _relu(layer: Message) -> dict[str, Any]:
    return {"negative_slope": float(layer.block("relu_param").one("negative_slope", 0.0))}


def _eltwise(layer: Message) -> dict[str, Any]:
    param = layer.block("eltwise_param")
    attrs: dict[str, Any] = {"operation": _enum(param.one("operation", 1), _ELTWISE)}
    if param.many("coeff"):
        attrs["coeff"] = tuple(float(c) for c in param.many("coeff"))
    return attrs


def _inner_product(layer: Message) -> dict[str, Any]:
    param = layer.block("inner_product_param")
    return {"num_output": param.one("num_output"), "bias_term": param.one("bias_term", True),
            "axis": param.one("axis", 1), "transpose": param.one("transpose", False)}


def _concat(layer: Message) -> dict[str, Any]:
    param = layer.block("concat_param")
    return {"axis": param.one("axis", param.one("concat_dim", 1))}


def _flatten(layer: Message) -> dict[str, Any]:
    param = layer.block("flatten_param")
    return {"axis": param.one("axis", 1), "end_axis": param.one("end_axis", -1)}


def _softmax(layer: Message) -> dict[str, Any]:
    return {"axis": layer.block("softmax_param").one("axis", 1)}


_NORMALISERS: dict[str, Callable[[Message], dict[str, Any]]] = {
    "Convolution": _conv, "Deconvolution": _conv, "Pooling": _pooling,
    "BatchNorm": _batchnorm, "Scale": _scale, "PReLU": _prelu, "ReLU": _relu,
    "Eltwise": _eltwise, "InnerProduct": _inner_product, "Concat": _concat,
    "Flatten": _flatten, "Softmax": _softmax,
}
