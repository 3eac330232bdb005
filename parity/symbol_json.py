"""Read an MXNet ``-symbol.json`` into a :class:`Graph` without importing MXNet.

Variables (``null`` ops) are not nodes: they are either parameters (weights, biases,
BatchNorm statistics, PReLU slopes), labels (``softmax_label``), or data inputs.
Attributes are parsed from MXNet's strings (``"(3, 3)"``, ``"True"``) and normalised to
parity's names with MXNet's defaults filled in (BatchNorm ``eps`` is ``1e-3``).
A node is its op's first output, except a split (``SliceChannel``, ``_split_v2``): each
further piece is a node of its own, ``name:1``, ``name:2``... (MXNet's ``name_output1``).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelLoadError, shown_path
from .graph import Graph, Node, TensorSpec
from .limits import check_depth

# Ops whose inputs after the first are parameters (weights, biases, statistics, slopes).
WEIGHT_OPS = frozenset({
    "Convolution", "Deconvolution", "FullyConnected", "BatchNorm", "SyncBatchNorm",
    "_contrib_SyncBatchNorm", "InstanceNorm", "LayerNorm", "GroupNorm", "LeakyReLU",
    "Embedding",
})
PARAM_SUFFIXES = ("_weight", "_bias", "_gamma", "_beta", "_moving_mean", "_moving_var",
                  "_running_mean", "_running_var")
# Ops whose outputs are the pieces of their input, each a node (see :func:`_piece_name`).
SPLIT_OPS = frozenset({"SliceChannel", "split", "_split_v2"})
_DTYPES = {0: "float32", 1: "float64", 2: "float16", 3: "uint8", 4: "int32", 5: "int8",
           6: "int64"}


@dataclass(frozen=True)
class SymbolFile:
    """A parsed symbol file: the graph and which variables each node reads as parameters."""

    graph: Graph
    params: Mapping[str, tuple[str, ...]]
    labels: tuple[str, ...]

    def params_of(self, node: str) -> tuple[str, ...]:
        """Names of the parameters ``node`` reads (``conv_1_conv2d_weight``...)."""
        self.graph.node(node)  # unknown names raise NodeNotFound with close matches
        return self.params.get(node, ())

    @property
    def param_names(self) -> tuple[str, ...]:
        """Every parameter the symbol reads, in file order, each once."""
        return tuple(dict.fromkeys(name for names in self.params.values() for name in names))


def read_symbol(path: str | Path, param_names: Collection[str] = ()) -> SymbolFile:
    """Parse the symbol file at ``path``.

    ``param_names`` (the keys of the ``.params`` file, ``arg:``/``aux:`` prefixes allowed)
    marks variables as parameters in addition to the structural rule: any variable in a
    weight slot of a :data:`WEIGHT_OPS` op or named with a :data:`PARAM_SUFFIXES` suffix.
    """
    path = Path(path)
    raw = _load_json(path)
    try:
        return _parse(raw, {param_name(n) for n in param_names}, path)
    except (KeyError, IndexError, TypeError, ValueError, SyntaxError) as exc:
        raise ModelLoadError(path, f"not a valid MXNet symbol ({_describe(exc)})") from None


def load_graph(path: str | Path, param_names: Collection[str] = ()) -> Graph:
    """The :class:`Graph` of the symbol file at ``path``; see :func:`read_symbol`."""
    return read_symbol(path, param_names).graph


def _load_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        check_depth(text, shown_path(path))
        data = json.loads(text)
    except OSError as exc:
        raise ModelLoadError(path, f"cannot read the symbol file ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise ModelLoadError(path, "JSON is not an MXNet symbol (no 'nodes' list)")
    if not isinstance(data.get("heads"), list):
        raise ModelLoadError(path, "JSON is not an MXNet symbol (no 'heads' list)")
    return data


def _parse(raw: dict[str, Any], known_params: set[str], path: Path) -> SymbolFile:
    entries = raw["nodes"]
    names = [_text(entry["name"], "node name") for entry in entries]
    ops = [_text(entry["op"], f"op of node {name!r}") for entry, name in zip(entries, names)]
    ports = [_input_ports(entry, index) for index, entry in enumerate(entries)]
    reads = [[source for source, _ in entry_ports] for entry_ports in ports]
    kinds = _variable_kinds(names, ops, reads, known_params)
    nodes: list[Node] = []
    params: dict[str, tuple[str, ...]] = {}
    for index, (entry, name, op) in enumerate(zip(entries, names, ops)):
        if op == "null":
            continue
        upstream = [_piece_name(names[i], ops[i], k) for i, k in ports[index]
                    if kinds.get(i) not in ("param", "label")]
        params[name] = tuple(names[i] for i in reads[index] if kinds.get(i) == "param")
        attrs = normalise_attrs(op, _raw_attrs(entry), name)
        count = _piece_count(op, attrs)
        nodes.extend(Node(name=_piece_name(name, op, k), op=op,
                          inputs=tuple(dict.fromkeys(upstream)), attrs=attrs)
                     for k in range(count))
    inputs = tuple(_tensor_spec(entries[i], names[i]) for i, kind in kinds.items()
                   if kind == "data")
    outputs = tuple(dict.fromkeys(_head_name(head, names, ops) for head in raw["heads"]))
    labels = tuple(names[i] for i, kind in kinds.items() if kind == "label")
    graph = Graph(tuple(nodes), inputs, outputs, source=str(path))
    return SymbolFile(graph, params, labels)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} is {value!r}, expected a non-empty string")
    return value


def _input_ports(entry: dict[str, Any], index: int) -> list[tuple[int, int]]:
    """``(node id, output index)`` of each input ``entry`` reads; the nodes must come
    earlier (the file is topological)."""
    ports = []
    for item in entry.get("inputs", []):
        source = item[0]
        if not isinstance(source, int) or not 0 <= source < index:
            raise ValueError(f"node {entry.get('name', index)!r} reads node id {source!r}, "
                             "which is not an earlier node")
        ports.append((source, _output_index(item)))
    return ports


def _output_index(item: list[Any]) -> int:
    """The output index of an input or head entry ``[node id, output index, version]``."""
    index = item[1] if len(item) > 1 else 0
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"output index {index!r} is not a whole number")
    return index


def _head_name(head: list[Any], names: list[str], ops: list[str]) -> str:
    source = head[0]
    if not isinstance(source, int) or not 0 <= source < len(names):
        raise ValueError(f"a head names node id {source!r}, which does not exist")
    return _piece_name(names[source], ops[source], _output_index(head))


def _piece_name(name: str, op: str, index: int) -> str:
    """The node of output ``index`` of node ``name``: ``name`` itself, but for a split's
    further pieces ``name:1``, ``name:2``... (any other op's further outputs are read as
    its first)."""
    return f"{name}:{index}" if index and op in SPLIT_OPS else name


def _piece_count(op: str, attrs: Mapping[str, Any]) -> int:
    """How many nodes an op is: a split's pieces (``num_outputs``; ``_split_v2``'s
    ``sections``, else its ``indices``, the pieces' starts ``(0, 3, 5)``), else one."""
    if op not in SPLIT_OPS:
        return 1
    if "num_outputs" in attrs:
        return int(attrs["num_outputs"])
    if attrs.get("sections"):
        return int(attrs["sections"])
    indices = attrs.get("indices")
    return len(indices) if isinstance(indices, tuple) and indices else 1


def _variable_kinds(names: list[str], ops: list[str], reads: list[list[int]],
                    known_params: set[str]) -> dict[int, str]:
    """``param``, ``label`` or ``data`` for every variable id, in file order."""
    weight_slots = {source for op, ids in zip(ops, reads) if op in WEIGHT_OPS
                    for source in ids[1:]}
    kinds = {}
    for index, (name, op) in enumerate(zip(names, ops)):
        if op != "null":
            continue
        if name in known_params or index in weight_slots or name.endswith(PARAM_SUFFIXES):
            kinds[index] = "param"
        elif name.endswith("_label"):
            kinds[index] = "label"
        else:
            kinds[index] = "data"
    return kinds


def _raw_attrs(entry: dict[str, Any]) -> dict[str, str]:
    """Attributes of any symbol-file version: ``attrs`` (1.x), ``param``/``attr`` (0.x)."""
    merged: dict[str, Any] = {}
    for key in ("attr", "param", "attrs"):
        value = entry.get(key) or {}
        if not isinstance(value, dict):
            raise ValueError(f"{key} of node {entry.get('name')!r} is not an object")
        merged.update(value)
    return {str(k): str(v) for k, v in merged.items() if not str(k).startswith("__")}


def _tensor_spec(entry: dict[str, Any], name: str) -> TensorSpec:
    attrs = {**(entry.get("attr") or {}), **(entry.get("attrs") or {})}
    shape = None
    if "__shape__" in attrs:
        dims = parse_ints(attrs["__shape__"])
        shape = tuple(d if d > 0 else None for d in dims)
    dtype = _DTYPES.get(int(attrs.get("__dtype__", 0)), "float32")
    return TensorSpec(name, shape, dtype)


def parse_ints(text: str) -> tuple[int, ...]:
    """``"(3, 3)"``, ``"[1,1]"``, ``"(3,)"`` or ``"3"`` -> a tuple of ints."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(f"{text!r} is not a tuple of integers") from None
    items = value if isinstance(value, (tuple, list)) else (value,)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise ValueError(f"{text!r} is not a tuple of integers")
    return tuple(items)


def parse_bool(text: str) -> bool:
    """MXNet's ``"True"``/``"False"`` (also ``"1"``/``"0"``, any case)."""
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(f"{text!r} is not a boolean")


def _parse_int(text: str) -> int:
    return int(text.strip())


def _parse_value(text: str) -> Any:
    """Best-effort value of an attribute parity does not normalise; text when unsure."""
    if text in ("True", "False"):
        return text == "True"
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    if isinstance(value, list):
        value = tuple(value)
    return value if isinstance(value, (int, float, tuple)) or value is None else text


# MXNet attribute -> (parity key, parser); known attributes must parse or the file is bad.
_KNOWN: dict[str, tuple[str, Callable[[str], Any]]] = {
    "kernel": ("kernel", parse_ints),
    "stride": ("stride", parse_ints),
    "pad": ("pad", parse_ints),
    "dilate": ("dilation", parse_ints),
    "num_group": ("group", _parse_int),
    "num_filter": ("num_filter", _parse_int),
    "num_hidden": ("num_hidden", _parse_int),
    "eps": ("eps", float),
    "momentum": ("momentum", float),
    "fix_gamma": ("fix_gamma", parse_bool),
    "use_global_stats": ("use_global_stats", parse_bool),
    "no_bias": ("no_bias", parse_bool),
    "global_pool": ("global_pool", parse_bool),
    "flatten": ("flatten", parse_bool),
    "scalar": ("scalar", float),
    "slope": ("slope", float),
    "axis": ("axis", _parse_int),
    "pool_type": ("pool_type", str),
    "act_type": ("act_type", str),
    "pooling_convention": ("pooling_convention", str),
}

# MXNet's defaults for the normalised keys, per op.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "BatchNorm": {"eps": 1e-3, "momentum": 0.9, "fix_gamma": True, "use_global_stats": False,
                  "axis": 1},
    "Convolution": {"group": 1, "no_bias": False},
    "Deconvolution": {"group": 1, "no_bias": True},
    "FullyConnected": {"no_bias": False, "flatten": True},
    "Pooling": {"pool_type": "max", "global_pool": False, "pooling_convention": "valid"},
    "LeakyReLU": {"act_type": "leaky"},
    "InstanceNorm": {"eps": 1e-3},
    "LayerNorm": {"eps": 1e-5, "axis": -1},
}
_CONV_OPS = ("Convolution", "Deconvolution")


def normalise_attrs(op: str, raw: Mapping[str, str], node: str = "") -> dict[str, Any]:
    """Parity's attributes of an MXNet node: renamed, parsed, MXNet defaults filled in."""
    attrs: dict[str, Any] = {}
    for key, text in raw.items():
        if key not in _KNOWN:
            attrs[key] = _parse_value(text)
            continue
        new_key, parser = _KNOWN[key]
        try:
            attrs[new_key] = parser(text)
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"node {node!r}: bad {key}={text!r} ({_describe(exc)})") from None
    for key, value in _DEFAULTS.get(op, {}).items():
        attrs.setdefault(key, value)
    _fill_window(op, attrs)
    if op == "Pooling":
        attrs["ceil_mode"] = attrs["pooling_convention"] == "full"
    if op == "LeakyReLU" and attrs["act_type"] in ("leaky", "elu"):
        attrs.setdefault("slope", 0.25)
    return attrs


def _fill_window(op: str, attrs: dict[str, Any]) -> None:
    """Default stride 1 and pad 0 (and dilation 1 for convolutions), one per kernel dim."""
    if op not in (*_CONV_OPS, "Pooling") or "kernel" not in attrs:
        return
    fills = {"stride": 1, "pad": 0, **({"dilation": 1} if op in _CONV_OPS else {})}
    for key, fill in fills.items():
        attrs.setdefault(key, (fill,) * len(attrs["kernel"]))


def param_name(name: str) -> str:
    """A ``.params`` key without its ``arg:``/``aux:`` prefix."""
    return name.split(":", 1)[1] if name.startswith(("arg:", "aux:")) else name


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return str(exc)
