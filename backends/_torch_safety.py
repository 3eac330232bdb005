"""Model files are data: refuse TorchScript and torch.export graphs whose ops reach outside.

A TorchScript archive carries code (``code/**/*.py``, compiled by ``torch.jit.load``) and a
torch.export archive a graph of named ops; both may call any registered op, and a few ops
touch files (``aten::from_file`` maps or creates any file, ``aten::save`` writes one), the
network (``prim::rpc_*``) or the process (``prim::Print`` writes to parity's own stdout).

The rule is an allowlist of op namespaces that hold torch's own tensor ops (``aten``,
``prim``, ``prims``, the quantized ones) minus a denylist of their side-effecting members;
an op from any other namespace (a custom C++ op, ``c10d`` collectives, ``profiler``) is
refused too, since nothing says what it does. Real models (BERT, ViT, ConvNeXt, ResNet...)
use only allowed ops, so they pass untouched. ``trust_code`` skips the check.

TorchScript runs code while loading (a scripted ``__setstate__``), so its archive's source is
scanned for the denied names before ``torch.jit.load``; the loaded graphs (every method of
every submodule, inlined, with nested blocks) are then checked op by op.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch

from parity.backends import _torch_ir as ir
from parity.errors import ModelLoadError

T = TypeVar("T")

ALLOWED_NAMESPACES = frozenset({
    "aten", "prim", "prims", "quantized", "_quantized", "quantized_decomposed", "rngprims",
})
DENIED_OPS = {
    "aten::from_file": "maps or creates a file",
    "aten::save": "writes a file",
    "aten::_print": "writes to the process's output",
    "prim::Print": "writes to the process's output",
    "prim::rpc_async": "calls over the network",
    "prim::rpc_sync": "calls over the network",
    "prim::rpc_remote": "calls over the network",
    "prim::PythonOp": "runs Python code",
    "prim::IgnoredPythonOp": "runs Python code",
}
# How a denied op is spelled in serialized TorchScript source (whitespace removed first).
_SOURCE_SPELLINGS = re.compile(
    r"\b(?P<from_file>from_file)\b"
    r"|(?<![\w])(?:torch\.|ops\.aten\.)(?P<aten>save|_print)\("
    r"|(?P<print>(?<![\w.])print)\("
    r"|(?P<rpc>rpc_async|rpc_sync|rpc_remote)\b"
    r"|(?<![\w])ops\.(?P<ns>\w+)\.(?P<op>\w+)"
)
# A word each spelling above holds (keep the two in step); identifiers hold no whitespace,
# so a file without one cannot match (most files: the spellings' full scan is 7 ms on
# ResNet-50, this one 0.5).
_SOURCE_WORDS = re.compile(r"from_file|save|print|rpc_|\bops\b")
_TRUST = "pass --trust-code only for a file you trust"


class UnsafeOp(ModelLoadError):
    """A model graph calls an op that reaches outside the tensors."""


def load_checked(path: Path, load: Callable[[Path], T], trust_code: bool = False) -> T:
    """``load(path)`` for a TorchScript or torch.export file, refusing unsafe ops.

    Raises :class:`UnsafeOp` naming the first op that touches files, the network or the
    process, before any of the model's code has run; ``trust_code`` skips every check.
    """
    if trust_code:
        return _load_naming_unknown_ops(path, load)
    if path.suffix == ".pt2":
        for op in _serialized_targets(path):
            _refuse(path, op)
    else:
        _check_source(path)
    loaded = _load_naming_unknown_ops(path, load)
    ops = _exported_ops(loaded) if isinstance(loaded, torch.export.ExportedProgram) \
        else _script_ops(loaded)
    for op in ops:
        _refuse(path, op)
    return loaded


def refusal(op: str) -> str | None:
    """Why ``op`` (``namespace::name``) is refused, or None when it is a pure tensor op."""
    if op in DENIED_OPS:
        return DENIED_OPS[op]
    namespace = op.split("::", 1)[0]
    if namespace not in ALLOWED_NAMESPACES:
        return "is not one of torch's own tensor ops"
    return None


def _refuse(path: Path, op: str) -> None:
    reason = refusal(op)
    if reason is not None:
        raise UnsafeOp(path, f"refused to run: the model calls {op}, which {reason}; {_TRUST}")


# -- TorchScript ------------------------------------------------------------------------

def _check_source(path: Path) -> None:
    """Denied op names in the archive's TorchScript source, before anything compiles it."""
    try:
        with zipfile.ZipFile(path) as archive:
            sources = [n for n in archive.namelist()
                       if "/code/" in f"/{n}" and n.endswith(".py")]
            for name in sources:
                text = archive.read(name).decode("utf-8", "replace")
                if not _SOURCE_WORDS.search(text):
                    continue
                for match in _SOURCE_SPELLINGS.finditer(re.sub(r"\s+", "", text)):
                    _refuse(path, _spelled_op(match))
    except (OSError, zipfile.BadZipFile, RuntimeError):
        return  # not a readable archive: torch.jit.load says so in its own words


def _spelled_op(match: re.Match[str]) -> str:
    if match["from_file"]:
        return "aten::from_file"
    if match["aten"]:
        return f"aten::{match['aten']}"
    if match["print"]:
        return "prim::Print"
    if match["rpc"]:
        return f"prim::{match['rpc']}"
    return f"{match['ns']}::{match['op']}"


def _script_ops(module: torch.jit.ScriptModule) -> Iterator[str]:
    """Every op kind of every method of ``module`` and its submodules.

    Instances of one compiled type share its code, so each type is read once (ResNet-50's
    sixteen bottlenecks are a handful of types). Each method's own graph is read, not its
    inlined one: every submodule's code is read as its own type, so a module's method
    calls (``prim::CallMethod``) need not be inlined, and each op is read once (inlining
    every level read a traced model's ops once per enclosing module: 0.25 s against
    0.02 s on BERT-base). A method calling a free function (``prim::CallFunction``),
    whose code belongs to no module, is read inlined.
    """
    seen: set[str] = set()
    for submodule in module.modules():
        script = getattr(submodule, "_c", None)
        if script is None:
            continue
        kind = script._type().qualified_name()
        if kind in seen:
            continue
        seen.add(kind)
        for name in script._method_names():
            method = script._get_method(name)
            ops = list(_graph_ops(method.graph))
            yield from _graph_ops(method.inlined_graph) if "prim::CallFunction" in ops else ops


def _graph_ops(graph: Any) -> Iterator[str]:
    for node in graph.nodes():
        yield node.kind()
        yield from _custom_class_calls(node)
        for block in ir.blocks(node):
            yield from _graph_ops(block)
        for attribute in node.attributeNames():
            if node.kindOf(attribute) == "g":
                yield from _graph_ops(node.g(attribute))


def _custom_class_calls(node: Any) -> Iterator[str]:
    """``prim::CallMethod`` on a C++ class object (``torch.classes.<ns>.<Class>``) as an op."""
    if node.kind() != "prim::CallMethod":
        return
    name = str(node.inputsAt(0).type())
    prefix = "__torch__.torch.classes."
    if name.startswith(prefix):
        namespace, _, cls = name[len(prefix):].partition(".")
        yield f"{namespace}::{cls}.{node.s('name')}"


# -- torch.export -----------------------------------------------------------------------

def _serialized_targets(path: Path) -> list[str]:
    """``namespace::name`` of every ``torch.ops`` target in a torch.export archive's graphs.

    Read from the archive's JSON before torch deserializes anything; higher-order ops are
    left to the check of the loaded program.
    """
    targets: set[str] = set()
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if "/models/" in f"/{name}" and name.endswith(".json"):
                    targets.update(re.findall(r'"target":\s*"torch\.ops\.(\w+)\.(\w+)',
                                              archive.read(name).decode("utf-8", "replace")))
    except (OSError, zipfile.BadZipFile, RuntimeError):
        return []  # torch.export.load says what is wrong in its own words
    return sorted(f"{ns}::{op}" for ns, op in targets if ns != "higher_order")


def _load_naming_unknown_ops(path: Path, load: Callable[[Path], T]) -> T:
    """``load(path)``; a torch.export archive that fails on an op no library registered
    says which op (torch itself only says "check the warnings above")."""
    try:
        return load(path)
    except ModelLoadError:
        if path.suffix != ".pt2":
            raise
        missing = [op for op in _serialized_targets(path) if not _registered(op)]
        if not missing:
            raise
        raise ModelLoadError(path, f"calls {', '.join(missing)}, which no loaded library "
                                   "registers: a custom op parity cannot run") from None


def _registered(op: str) -> bool:
    namespace, name = op.split("::", 1)
    try:
        getattr(getattr(torch.ops, namespace), name)
    except (AttributeError, RuntimeError):
        return False
    return True


# Higher-order ops that only structure the graph (their subgraphs are checked as modules).
_STRUCTURAL = frozenset({"cond", "while_loop", "map_impl", "scan", "invoke_subgraph",
                         "associative_scan", "wrap_with_set_grad_enabled",
                         "wrap_with_autocast"})
# Higher-order ops that call the op given as an argument: (name, index of that argument).
_WRAPPING = {"auto_functionalized": 0, "auto_functionalized_v2": 0, "with_effects": 1}


def _exported_ops(program: torch.export.ExportedProgram) -> Iterator[str]:
    """The op of every ``call_function`` node, in the program and in its subgraphs."""
    for module in program.graph_module.modules():
        graph = getattr(module, "graph", None)
        if graph is None:
            continue
        for node in graph.nodes:
            if node.op == "call_function":
                yield from _call_ops(node.target, node.args)


def _call_ops(target: Any, args: tuple[Any, ...]) -> Iterator[str]:
    """``namespace::name`` of an FX call target (and of the op a wrapper calls)."""
    if isinstance(target, torch._ops.OpOverload):
        yield target.name()
    elif isinstance(target, torch._ops.HigherOrderOperator):
        name = target.name()
        if name in _WRAPPING and len(args) > _WRAPPING[name]:
            yield from _call_ops(args[_WRAPPING[name]], ())
        elif name not in _STRUCTURAL:
            yield f"higher_order::{name}"
    elif getattr(target, "__module__", None) in ("_operator", "operator", "math") \
            or getattr(target, "__name__", "").startswith("sym_"):
        yield f"prim::{target.__name__}"  # getitem, sym_size, arithmetic on sizes
    else:
        yield f"python::{getattr(target, '__module__', '?')}.{getattr(target, '__name__', target)}"
