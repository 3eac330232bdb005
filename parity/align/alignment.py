"""Align two graphs node by node: which node of A computes the same value as which of B.

Strategies run in order and each only sees the nodes still unmatched:

1. ``manual``: the user's mapping (``a_name -> b_name``, ``*`` globs allowed), always wins;
2. ``input``: each side's effective input (the graph input, or the end of the in-graph
   normalisation that one side does and the other does outside the graph);
3. ``exact``: identical names;
4. ``normalised``: names equal after dropping framework decoration
   (``_output``, ``/``, ``.``, ``::``);
5. ``scope``: module scope + op family + call order, for graphs that record module scopes
   (torch module paths vs the ONNX exporter's ``/layer1/layer1.0/conv1/Conv``);
6. ``structure``: graph position, for everything still unmatched (:mod:`.structure`);
7. ``sequence``: what is left between anchors, aligned as sequences (:mod:`.sequence`).

Folds are respected as matches are made: where one side computes as one op what the
other splits into a chain (ONNX Conv with BatchNorm folded in vs torch Conv + BatchNorm;
one BatchNorm vs Caffe ``BatchNorm`` + ``Scale``; Conv with a fused activation), the pair
is compared at the chain's end and the interior nodes are listed as skipped. The user's
mapping is taken as written.

Every match says which strategy found it. Works on :class:`Graph` only: no frameworks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..graph import Graph
from ..normalization import effective_input, leading_affine
from .folds import move_to_fold_end
from .mapping_file import resolve_mapping
from .names import Strategy, by_key, normalise_name
from .scopes import by_scope, has_scopes
from .sequence import match_sequences
from .structure import match_structure


@dataclass(frozen=True)
class Match:
    """Node ``a`` of graph A and node ``b`` of graph B should hold equal values."""

    a: str
    b: str
    how: str


@dataclass(frozen=True)
class Alignment:
    """Matches in A's topological order, and the nodes of each side left out.

    ``skipped_*`` are nodes deliberately not compared: interiors of fused chains and
    in-graph normalisation steps the other side does outside its graph.
    """

    pairs: tuple[Match, ...]
    unmatched_a: tuple[str, ...]
    unmatched_b: tuple[str, ...]
    skipped_a: tuple[str, ...] = ()
    skipped_b: tuple[str, ...] = ()


def align(a: Graph, b: Graph, manual: Mapping[str, str] | None = None) -> Alignment:
    """Match the nodes of ``a`` and ``b``; see the module docstring for the strategies.

    Each automatic match is moved to its fold end as soon as it is made, so the
    strategies after it see the folded chain's end as the matched node.
    """
    strategies: list[tuple[str, Strategy]] = [
        ("exact", by_key(lambda n: n.name)),
        ("normalised", by_key(lambda n: normalise_name(n.name))),
    ]
    if has_scopes(a) and has_scopes(b):
        strategies.append(("scope", by_scope))

    skipped_a, skipped_b = _normalisation_steps(a), _normalisation_steps(b)
    found = {x: Match(x, y, "manual") for x, y in resolve_mapping(a, b, manual or {})}
    taken_b = {m.b for m in found.values()}
    for x, y in _effective_inputs(a, b):
        if x not in found and y not in taken_b:
            found[x] = Match(x, y, "input")
    named: list[Match] = []
    for how, strategy in strategies:
        taken_b = {m.b for m in found.values()} | {m.b for m in named}
        taken_a = {*found, *(m.a for m in named)}
        left = [n for n in a.nodes if n.name not in taken_a and n.name not in skipped_a]
        right = [n for n in b.nodes if n.name not in taken_b and n.name not in skipped_b]
        named += [Match(x, y, how) for x, y in strategy(left, right)]
    _add_folded(a, b, found, named, skipped_a, skipped_b)
    anchors = {m.a: m.b for m in found.values()}
    for name_a, name_b in match_structure(a, b, anchors, skipped_a, skipped_b):
        found[name_a] = Match(name_a, name_b, "structure")
    anchors = {m.a: m.b for m in found.values()}
    sequenced = [Match(x, y, "sequence")
                 for x, y in match_sequences(a, b, anchors, skipped_a, skipped_b)]
    _add_folded(a, b, found, sequenced, skipped_a, skipped_b)
    taken_a, taken_b = set(found), {m.b for m in found.values()}
    return Alignment(
        pairs=tuple(sorted(found.values(), key=lambda m: a.order.get(m.a, -1))),
        unmatched_a=tuple(n.name for n in a.nodes
                          if n.name not in taken_a and n.name not in skipped_a),
        unmatched_b=tuple(n.name for n in b.nodes
                          if n.name not in taken_b and n.name not in skipped_b),
        skipped_a=tuple(n.name for n in a.nodes if n.name in skipped_a),
        skipped_b=tuple(n.name for n in b.nodes if n.name in skipped_b),
    )


def _effective_inputs(a: Graph, b: Graph) -> list[tuple[str, str]]:
    """Pair the models' inputs by position, each after its in-graph normalisation."""
    return [
        (effective_input(a, x.name), effective_input(b, y.name))
        for x, y in zip(a.inputs, b.inputs)
    ]


def _normalisation_steps(graph: Graph) -> set[str]:
    """In-graph normalisation nodes before the effective input: nothing to compare."""
    steps: set[str] = set()
    for spec in graph.inputs:
        affine = leading_affine(graph, spec.name)
        if affine:
            steps.update(affine.nodes[:-1])
    return steps


def _add_folded(
    a: Graph, b: Graph, found: dict[str, Match], new: list[Match],
    skipped_a: set[str], skipped_b: set[str],
) -> None:
    """Add ``new`` matches to ``found``, each moved to the end of a chain the other side
    computes as one op (see :mod:`.folds`); the chains' interiors join the skipped."""
    taken_a = {*found, *(m.a for m in new), *skipped_a}
    taken_b = {*(m.b for m in found.values()), *(m.b for m in new), *skipped_b}
    for match in new:
        moved = move_to_fold_end(a, b, match.a, match.b, taken_a, taken_b)
        if moved is None:
            found[match.a] = match
            continue
        new_a, new_b, interior_a, interior_b = moved
        skipped_a.update(interior_a)
        skipped_b.update(interior_b)
        taken_a.update((new_a, *interior_a))
        taken_b.update((new_b, *interior_b))
        found[new_a] = Match(new_a, new_b, f"{match.how}+fold")


