"""Module scopes: read from exporter node names (framework-free string handling), and
matched across graphs (module scope + op family + call order)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Container
from dataclasses import replace

from ..graph import Graph, Node
from ..ops import DECOMPOSITIONS, compatible, family
from .structure import contradicts


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

    ``layer1(Sequential).0(BasicBlock).conv1(Conv2d)`` -> ``layer1.0.conv1``. A module
    converted from ONNX (onnx2torch) names each submodule after its ONNX node, dots written
    as slashes (``vit/layers/0/mlp/fc1/MatMul``): such a name reads as the node name's
    scope (``vit.layers.0.mlp.fc1``).
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
    readable = (scope_from_onnx_name("/" + part.lstrip("/")) if "/" in part else part
                for part in parts)
    return ".".join(part for part in readable if part)


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


def fill_scopes(graph: Graph) -> Graph:
    """``graph`` with each scopeless node that a module's nodes surround (read from and read
    by nodes of one scope, no other) given that scope: an optimiser's node, as the dynamo
    exporter's ``Cast`` after RoBERTa's position-id ``CumSum``, carries no namespace, and a
    module whose count of casts is one short pairs its casts out of order."""
    by_name = {node.name: node for node in graph.nodes}
    filled = []
    for node in graph.nodes:
        if not node.scope:
            producers = {by_name[p].scope for p in node.inputs if p in by_name}
            readers = {by_name[r].scope for r in graph.consumers.get(node.name, ())}
            if producers and readers and len(producers | readers) == 1 and "" not in producers:
                node = replace(node, scope=next(iter(producers | readers)))
        filled.append(node)
    return replace(graph, nodes=tuple(filled))


def has_scopes(graph: Graph) -> bool:
    return any(node.scope for node in graph.nodes)


def index_free(scope: str) -> str:
    """The scope without the names of containers that hold numbered children.

    TorchScript drops a ModuleList's name (``0.self_attn``) that exporters keep
    (``layers.0.self_attn``): both read ``0.self_attn``. The key keeps every index and the
    names after the last one (``encoder.stages.1.layers.0.dwconv`` -> ``1.0.dwconv``).
    """
    parts = scope.split(".")
    last = max((i for i, part in enumerate(parts) if part.isdigit()), default=-1)
    return ".".join([p for p in parts[:last] if p.isdigit()] + parts[max(last, 0):])


def scope_map(a: Graph, b: Graph) -> dict[str, str]:
    """A's module scopes (and their parents) -> the same module's scope in B.

    Scopes equal on both sides map to themselves; the others map when their
    :func:`index_free` key names exactly one scope on each side.
    """
    scopes_a, scopes_b = _all_scopes(a), _all_scopes(b)
    mapping = {scope: scope for scope in scopes_a & scopes_b}
    keys_a, keys_b = _unique_by(scopes_a, index_free), _unique_by(scopes_b, index_free)
    for key, scope in keys_a.items():
        if scope not in mapping and key in keys_b and keys_b[key] not in scopes_a:
            mapping[scope] = keys_b[key]
    return mapping


def _all_scopes(graph: Graph) -> set[str]:
    found: set[str] = set()
    for node in graph.nodes:
        parts = node.scope.split(".") if node.scope else []
        found.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
    return found


def _unique_by(scopes: set[str], key: Callable[[str], str]) -> dict[str, str]:
    groups: defaultdict[str, list[str]] = defaultdict(list)
    for scope in scopes:
        groups[key(scope)].append(scope)
    return {k: members[0] for k, members in groups.items() if len(members) == 1}


def members(graph: Graph) -> dict[str, list[str]]:
    """Scope -> the nodes inside it (its own and its submodules'), in topological order."""
    found: defaultdict[str, list[str]] = defaultdict(list)
    for node in graph.nodes:
        parts = node.scope.split(".") if node.scope else []
        for k in range(1, len(parts) + 1):
            found[".".join(parts[:k])].append(node.name)
    return found


def scope_output(graph: Graph, names: list[str]) -> str | None:
    """The one node of ``names`` whose value leaves the scope, if there is exactly one. A
    leaving node that the scope's own steps carry on to another leaving one is a step
    another module shares, not the scope's value (OpenVINO computes GPT-NeoX's two
    LayerNorms of one hidden state with one MVN, named after one of them, that the other's
    Multiply reads); a module called twice (a ResNet block's ReLU) leaves twice."""
    inside = set(names)
    leaving = [name for name in names
               if name in graph.outputs or not graph.consumers.get(name)
               or any(user not in inside for user in graph.consumers[name])]
    if len(leaving) > 1:
        leaving = [name for name in leaving
                   if not _reaches(graph, name, set(leaving) - {name}, inside)]
    return leaving[0] if len(leaving) == 1 else None


def _reaches(graph: Graph, start: str, targets: set[str], inside: set[str]) -> bool:
    """True when a node of ``targets`` reads ``start``, directly or through ``inside``."""
    seen, todo = {start}, [start]
    while todo:
        for user in graph.consumers.get(todo.pop(), ()):
            if user in targets:
                return True
            if user in inside and user not in seen:
                seen.add(user)
                todo.append(user)
    return False


def by_scope(mapping: dict[str, str]) -> Callable[[list[Node], list[Node]], list[tuple[str, str]]]:
    """Strategy: module scope (``mapping`` translates A's into B's) + op family + call order,
    where both sides have as many ops of that family in that scope (else a decomposition
    inside the scope, attention's MatMuls say, would shift the count) and no decomposition
    may end in that family there (:func:`_decomposed`)."""

    def strategy(left: list[Node], right: list[Node]) -> list[tuple[str, str]]:
        keys_a, keys_b = _scope_keys(left, mapping), _scope_keys(right, {})
        index_b = {k: name for name, k in keys_b.items()}
        count_a = Counter(k[:2] for k in keys_a.values())
        count_b = Counter(k[:2] for k in keys_b.values())
        ambiguous = _decomposed(count_a, count_b)
        nodes_a, nodes_b = {n.name: n for n in left}, {n.name: n for n in right}
        return [(name, index_b[k]) for name, k in keys_a.items()
                if k in index_b and count_a[k[:2]] == count_b[k[:2]] and k[:2] not in ambiguous
                and not contradicts(nodes_a[name], nodes_b[index_b[k]])]

    return strategy


def _decomposed(count_a: Counter[tuple[str, str]], count_b: Counter[tuple[str, str]]
                ) -> set[tuple[str, str]]:
    """``(scope, family)`` keys whose ops may end a decomposition: in that scope one side
    has an op of a family the other side has none of and may spell out ending in that
    family, so equal counts are no evidence of call order (MobileViT's TFLite softmax over
    one element ends in a DIV, beside torch's scaling Div it would pair with)."""
    scopes = {scope for scope, _ in (*count_a, *count_b)}
    return {(scope, end) for scope in scopes for one, ends in DECOMPOSITIONS.items()
            if (count_a[scope, one] > 0) != (count_b[scope, one] > 0) for end in ends}


def _scope_keys(nodes: list[Node], mapping: dict[str, str]) -> dict[str, tuple[str, str, int]]:
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
        scope = mapping.get(scope, scope)
        keys[node.name] = (scope, fam, seen[(scope, fam)])
        seen[(scope, fam)] += 1
    return keys


def match_scope_outputs(
    a: Graph, b: Graph, mapping: dict[str, str], taken_a: Container[str],
    taken_b: Container[str],
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Pairs of module outputs, and the interiors of modules one side computes as one op.

    A module's value is the one node of its scope that is read outside it: a torch
    ``linear`` and the ONNX ``Add`` after the ``MatMul`` of the same scope. Where one side
    has a single node in the scope (``aten::layer_norm``, ``aten::gelu``, ``aten::silu``)
    and the other a decomposition of it, the decomposition's other nodes are skipped.
    Deepest scopes first; the two outputs must have compatible ops unless one side is a
    single node.
    """
    inside_a, inside_b = members(a), members(b)
    pairs: list[tuple[str, str]] = []
    skip_a: list[str] = []
    skip_b: list[str] = []
    used_a: set[str] = set()
    used_b: set[str] = set()
    for scope in sorted(mapping, key=lambda s: -s.count(".")):
        names_a, names_b = inside_a.get(scope, []), inside_b.get(mapping[scope], [])
        x = scope_output(a, names_a) if names_a else None
        y = scope_output(b, names_b) if names_b else None
        if x is None or y is None or x in taken_a or y in taken_b or x in used_a or y in used_b:
            continue
        single_a, single_b = len(names_a) == 1, len(names_b) == 1
        if not (single_a or single_b or compatible(a.node(x).op, b.node(y).op)):
            continue
        pairs.append((x, y))
        used_a.add(x)
        used_b.add(y)
        if single_a != single_b:
            interior = names_b if single_a else names_a
            taken, used, skip = (taken_b, used_b, skip_b) if single_a else (taken_a, used_a, skip_a)
            for name in interior:
                if name not in taken and name not in used:
                    skip.append(name)
                    used.add(name)
    return pairs, skip_a, skip_b
