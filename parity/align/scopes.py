"""Module scopes: read from exporter node names (framework-free string handling), and
matched across graphs (module scope + op family + call order)."""

from __future__ import annotations

import re
from collections import defaultdict

from ..graph import Graph, Node
from ..ops import family


def scope_from_onnx_name(name: str) -> str:
    """Module path encoded in a TorchScript-exporter node name.

    ``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1``; ``/Concat`` -> ``""``.
    Segments either repeat their parent's name as a prefix (``layer1`` then ``layer1.0``)
    or give only the local name (``conv1``); both are joined into one dotted path.
    """
    if not name.startswith("/"):
        return ""
    parts: list[str] = []
    for segment in name.strip("/").split("/")[:-1]:
        parts = _join(parts, segment)
    return ".".join(parts)


def _join(parts: list[str], segment: str) -> list[str]:
    """Append ``segment``, letting it replace a tail of ``parts`` it repeats as a prefix."""
    for k in range(len(parts)):
        if segment.startswith(".".join(parts[k:]) + "."):
            return parts[:k] + segment.split(".")
    return parts + segment.split(".")


def scope_from_hierarchy(hierarchy: str) -> str:
    """Module path from TorchScript's ``getModuleHierarchy()``.

    ``layer1(Sequential).0(BasicBlock).conv1(Conv2d)`` -> ``layer1.0.conv1``.
    """
    parts = []
    depth = 0
    current = ""
    for char in hierarchy:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and char == ".":
            parts.append(current)
            current = ""
        elif depth == 0:
            current += char
    if current:
        parts.append(current)
    return ".".join(parts)


def scope_from_namespace(namespace: str) -> str:
    """Module path from the torch dynamo exporter's ``namespace`` node metadata.

    ``: SmallCNN/layer1: Sequential/layer1.0: BasicBlock/relu: ReLU/relu: aten.relu.default``
    -> ``layer1.0.relu``: segments are ``name: type``; the first is the root module and
    the last the aten op; the names between are joined as in exporter node names.
    """
    parts: list[str] = []
    for segment in namespace.split("/")[1:-1]:
        parts = _join(parts, segment.split(":", 1)[0].strip())
    return ".".join(parts)


def has_scopes(graph: Graph) -> bool:
    return any(node.scope for node in graph.nodes)


def by_scope(left: list[Node], right: list[Node]) -> list[tuple[str, str]]:
    keys_a, keys_b = _scope_keys(left), _scope_keys(right)
    index_b = {k: name for name, k in keys_b.items()}
    return [(name, index_b[k]) for name, k in keys_a.items() if k in index_b]


def _scope_keys(nodes: list[Node]) -> dict[str, tuple[str, str, int]]:
    """``(scope, op family, k)`` for the k-th op of that family in that scope.

    Exporters give a module's second call its own scope (``relu`` then ``relu_1``);
    such a scope is folded into the first so call order decides.
    """
    scopes = {(n.scope, family(n.op)) for n in nodes}
    seen: defaultdict[tuple[str, str], int] = defaultdict(int)
    keys = {}
    for node in nodes:
        fam = family(node.op)
        scope = node.scope
        base = re.sub(r"_\d+$", "", scope)
        if base != scope and (base, fam) in scopes:
            scope = base
        keys[node.name] = (scope, fam, seen[(scope, fam)])
        seen[(scope, fam)] += 1
    return keys
