"""Align two graphs node by node: which node of A computes the same value as which of B.

Strategies run in order and each only sees the nodes still unmatched:

1. ``manual``: the user's mapping (``a_name -> b_name``, ``*`` globs allowed), always wins;
2. ``input``: each side's effective input (the graph input, or the end of the in-graph
   normalisation that one side does and the other does outside the graph);
3. ``exact``: identical names;
4. ``normalised``: names equal after dropping framework decoration
   (``_output``, ``/``, ``.``, ``::``);
5. ``scope``: for graphs that record module scopes (torch module paths vs the ONNX
   exporter's ``/layer1/layer1.0/conv1/Conv``), scopes matched with or without container
   names (``0.self_attn`` vs ``layers.0.self_attn``): first each module's output (the
   ``Add`` after a Linear's ``MatMul``; a one-op module vs its decomposition, whose
   interior is skipped), then module scope + op family + call order;
6. ``structure``: graph position, for everything still unmatched (:mod:`.structure`);
7. ``sequence``: what is left between anchors, aligned as sequences (:mod:`.sequence`);
   the pairs their neighbours contradict dropped and, if any were, ``structure`` again
   (while they stood they hid the true partners of the nodes below them);
   then the nodes one side computes twice merged into the paired one they repeat and
   ``structure`` run again over what is still unmatched (:mod:`.repeats`);
8. ``output``: the models' outputs, paired with each other where one side appends steps
   the other does not (a Transpose to NHWC, a Softmax) or neither was matched
   (:mod:`.outputs`).

Folds are respected as matches are made: where one side computes as one op what the
other splits into a chain (ONNX Conv with BatchNorm folded in vs torch Conv + BatchNorm;
one BatchNorm vs Caffe ``BatchNorm`` + ``Scale``; Conv with a fused activation), the pair
is compared at the chain's end and the interior nodes are listed as skipped. The user's
mapping is taken as written.

Every match says which strategy found it. Works on :class:`Graph` only: no frameworks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from ..graph import Graph
from ..normalization import effective_input, leading_affine
from ..ops import family, is_no_op
from .activations import activation_graph
from .ancestry import out_of_order
from .confidence import agreement, confidence, contradicted
from .crossed import uncrossed
from .folds import bypassed, fold_head, move_to_fold_end
from .mapping_file import resolve_mapping
from .names import Strategy, by_key, named_key
from .outputs import output_pairs
from .repeats import merge_repeats, unmatched
from .scopes import by_scope, fill_scopes, has_scopes, match_scope_outputs, scope_map
from .sequence import match_sequences
from .slices import merge_repeated
from .structure import chain_transposes, heads_chain, match_structure

# Families whose own padding attribute can absorb a Pad before them.
_PADDED = frozenset({"conv", "maxpool", "avgpool"})


@dataclass(frozen=True)
class Match:
    """Node ``a`` of graph A and node ``b`` of graph B should hold equal values."""

    a: str
    b: str
    how: str
    confidence: float = 1.0  # 0..1, from the evidence that made it (:mod:`.confidence`)


@dataclass(frozen=True)
class Alignment:
    """Matches in A's topological order, and the nodes of each side left out.

    ``skipped_*`` are nodes deliberately not compared: interiors of fused chains and
    decompositions, and in-graph normalisation steps the other side does outside its graph.
    ``inert_*`` compute no activation (constants, weight copies, shape arithmetic): never
    compared and never counted against coverage.
    """

    pairs: tuple[Match, ...]
    unmatched_a: tuple[str, ...]
    unmatched_b: tuple[str, ...]
    skipped_a: tuple[str, ...] = ()
    skipped_b: tuple[str, ...] = ()
    inert_a: tuple[str, ...] = ()
    inert_b: tuple[str, ...] = ()


def align(a: Graph, b: Graph, manual: Mapping[str, str] | None = None) -> Alignment:
    """Match the nodes of ``a`` and ``b``; see the module docstring for the strategies.

    Only activations are aligned (:mod:`.activations`). Each automatic match is moved to
    its fold end as soon as it is made, so the strategies after it see the folded chain's
    end as the matched node.
    """
    full_a, full_b = a, b
    a, inert_a = activation_graph(a)
    b, inert_b = activation_graph(b)
    a, repeated_a = merge_repeated(chain_transposes(a))
    b, repeated_b = merge_repeated(chain_transposes(b))
    skipped_a = {*_normalisation_steps(a), *repeated_a}
    skipped_b = {*_normalisation_steps(b), *repeated_b}
    found = {x: Match(x, y, "manual")
             for x, y in resolve_mapping(full_a, full_b, manual or {})}
    taken_b = {m.b for m in found.values()}
    for x, y in _effective_inputs(a, b):
        if x not in found and y not in taken_b:
            found[x] = Match(x, y, "input")
    named: list[Match] = []
    strategies: list[tuple[str, Strategy]] = [
        ("exact", by_key(lambda n: n.name)),
        ("normalised", by_key(named_key)),
    ]
    scopes: dict[str, str] = {}
    if has_scopes(a) and has_scopes(b):
        a, b = fill_scopes(a), fill_scopes(b)
        scopes = scope_map(a, b)
    for how, strategy in strategies:
        named += _run(strategy, how, a, b, found, named, skipped_a, skipped_b)
    if scopes:
        taken_a = {*found, *(m.a for m in named), *skipped_a}
        taken_b = {*(m.b for m in found.values()), *(m.b for m in named), *skipped_b}
        outputs, interior_a, interior_b = match_scope_outputs(a, b, scopes, taken_a, taken_b)
        named += [Match(x, y, "scope") for x, y in outputs]
        skipped_a.update(interior_a)
        skipped_b.update(interior_b)
        named += _run(by_scope(scopes), "scope", a, b, found, named, skipped_a, skipped_b)
    _add_folded(a, b, found, named, skipped_a, skipped_b)
    _drop_contradicted(a, b, found)
    anchors = {m.a: m.b for m in found.values()}
    for name_a, name_b in match_structure(a, b, anchors, skipped_a, skipped_b):
        found[name_a] = Match(name_a, name_b, "structure")
    anchors = {m.a: m.b for m in found.values()}
    sequenced = [Match(x, y, "sequence")
                 for x, y in match_sequences(a, b, anchors, skipped_a, skipped_b)]
    _add_folded(a, b, found, sequenced, skipped_a, skipped_b)
    if _drop_contradicted(a, b, found):
        _match_again(a, b, found, skipped_a, skipped_b)
    a, b = _match_past_repeats(a, b, found, skipped_a, skipped_b)
    _skip_unmatched_no_ops(a, found, skipped_a)
    _skip_unmatched_no_ops(b, {m.b: m for m in found.values()}, skipped_b)
    _skip_chain_heads(a, found, skipped_a)
    _skip_chain_heads(b, {m.b: m for m in found.values()}, skipped_b)
    _skip_unmatched_pads(a, found, skipped_a)
    _skip_unmatched_pads(b, {m.b: m for m in found.values()}, skipped_b)
    _pair_outputs(a, b, full_a.outputs, full_b.outputs, found, skipped_a, skipped_b)
    pairs = {m.a: m.b for m in found.values()}
    skipped_a.update(bypassed(a, b, pairs, skipped_b))
    skipped_b.update(bypassed(b, a, {y: x for x, y in pairs.items()}, skipped_a))
    taken_a, taken_b = set(found), {m.b for m in found.values()}
    shares = agreement(a, b, {m.a: m.b for m in found.values()})
    rated = [replace(m, confidence=confidence(a, b, m.a, m.b, m.how, shares.get(m.a)))
             for m in found.values()]
    return Alignment(
        pairs=tuple(sorted(rated, key=lambda m: full_a.order.get(m.a, -1))),
        unmatched_a=tuple(n.name for n in a.nodes
                          if n.name not in taken_a and n.name not in skipped_a),
        unmatched_b=tuple(n.name for n in b.nodes
                          if n.name not in taken_b and n.name not in skipped_b),
        skipped_a=tuple(n.name for n in full_a.nodes if n.name in skipped_a),
        skipped_b=tuple(n.name for n in full_b.nodes if n.name in skipped_b),
        inert_a=tuple(name for name in inert_a if name not in taken_a),
        inert_b=tuple(name for name in inert_b if name not in taken_b),
    )


def _run(
    strategy: Strategy, how: str, a: Graph, b: Graph, found: Mapping[str, Match],
    named: list[Match], skipped_a: set[str], skipped_b: set[str],
) -> list[Match]:
    """``strategy``'s matches among the nodes nothing has matched or skipped yet."""
    taken_a = {*found, *(m.a for m in named), *skipped_a}
    taken_b = {*(m.b for m in found.values()), *(m.b for m in named), *skipped_b}
    left = [n for n in a.nodes if n.name not in taken_a]
    right = [n for n in b.nodes if n.name not in taken_b]
    return [Match(x, y, how) for x, y in strategy(left, right)]


def _match_past_repeats(a: Graph, b: Graph, found: dict[str, Match], skipped_a: set[str],
                        skipped_b: set[str]) -> tuple[Graph, Graph]:
    """Each side's unmatched repeats of earlier nodes merged into them (skipped: their
    value is that node's), then ``structure`` again over what hung from them; the graphs
    with the repeats merged."""
    back = {m.b: m for m in found.values()}
    merged_a, repeats_a = merge_repeats(a, unmatched(a, found, skipped_a))
    merged_b, repeats_b = merge_repeats(b, unmatched(b, back, skipped_b))
    if not repeats_a and not repeats_b:
        return a, b
    skipped_a.update(repeats_a)
    skipped_b.update(repeats_b)
    anchors = {m.a: m.b for m in found.values()}
    for name_a, name_b in match_structure(merged_a, merged_b, anchors, skipped_a, skipped_b):
        found[name_a] = Match(name_a, name_b, "structure")
    return merged_a, merged_b


def _drop_contradicted(a: Graph, b: Graph, found: dict[str, Match]) -> int:
    """Drop the pairs whose producers are all paired elsewhere, then those whose nearest
    paired producers are not upstream of their partner: a name or a position said they
    match, their neighbours say they do not. Crossed look-alike pairs are first given
    each other's partners (:mod:`.crossed`), and the neighbours are read through each
    side's unpaired repeats (:mod:`.repeats`: a mask's cast torch recomputes and the
    exporter reads twice). Returns how many were dropped."""
    pairs = uncrossed(a, b, {m.a: m.b for m in found.values()})
    for x, y in pairs.items():
        if found[x].b != y:
            found[x] = replace(found[x], b=y)
    a, _ = merge_repeats(a, unmatched(a, pairs, ()))
    b, _ = merge_repeats(b, unmatched(b, {y: x for x, y in pairs.items()}, ()))
    before = len(found)
    for x in contradicted(a, b, pairs, {m.a: m.how for m in found.values()}):
        del found[x]
        del pairs[x]
    certain = [m.a for m in found.values() if m.how.split("+")[0] in ("manual", "input")]
    for x in out_of_order(a, b, pairs, keep=set(certain)):
        del found[x]
    return before - len(found)


def _match_again(a: Graph, b: Graph, found: dict[str, Match], skipped_a: set[str],
                 skipped_b: set[str]) -> None:
    """``structure`` once more after dropping contradicted pairs: while they stood, they
    were the nearest matched ancestors of the nodes below them and hid those nodes' true
    partners (a converter that writes a module's transposes in another call order than
    torch: GPT-2's k, v, q in TorchScript against v, q, k in litert-torch's TFLite)."""
    anchors = {m.a: m.b for m in found.values()}
    for name_a, name_b in match_structure(a, b, anchors, skipped_a, skipped_b):
        found[name_a] = Match(name_a, name_b, "structure")
    _drop_contradicted(a, b, found)


def _skip_unmatched_no_ops(graph: Graph, matched: Mapping[str, Match], skipped: set[str]) -> None:
    """An unmatched no-op (eval-mode Dropout, ``contiguous``, Identity, a whole-axis slice)
    holds its input's value, which the other side does not repeat: skipped, not counted
    against coverage."""
    for node in graph.nodes:
        if node.name not in matched and is_no_op(node.op, node.attrs):
            skipped.add(node.name)


def _skip_chain_heads(graph: Graph, matched: Mapping[str, Match], skipped: set[str]) -> None:
    """An unmatched transpose another one continues is part of a chain the other side
    writes as one Transpose (torch's ``k.permute(0, 2, 1, 3).transpose(-2, -1)``): skipped,
    its chain's end is compared."""
    for node in graph.nodes:
        if node.name not in matched and heads_chain(graph, node.name):
            skipped.add(node.name)


def _skip_unmatched_pads(graph: Graph, matched: Mapping[str, Match], skipped: set[str]) -> None:
    """An unmatched Pad read only by convs or pools is padding the other side folded into
    those ops' own ``pads`` (the dynamo exporter does; TFLite keeps a PAD): skipped, the
    ops after it are compared."""
    readers = graph.consumers
    for node in graph.nodes:
        if (node.name not in matched and family(node.op) == "pad" and readers.get(node.name)
                and all(family(graph.op_of(r)) in _PADDED for r in readers[node.name])):
            skipped.add(node.name)


def _pair_outputs(
    a: Graph, b: Graph, outputs_a: tuple[str, ...], outputs_b: tuple[str, ...],
    found: dict[str, Match], skipped_a: set[str], skipped_b: set[str],
) -> None:
    """Compare the models' outputs themselves where one side appends steps the other does
    not (see :mod:`.outputs`); the appended steps join the skipped."""
    pairs = {m.a: m.b for m in found.values()}
    for out_a, out_b, replaced, tail_a, tail_b in output_pairs(
            a, b, outputs_a, outputs_b, pairs, skipped_a, skipped_b):
        how = "output"
        if replaced is not None:
            how = f"{found.pop(replaced).how}+output"
        found[out_a] = Match(out_a, out_b, how)
        skipped_a.update(tail_a)
        skipped_b.update(tail_b)


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
            head_a = fold_head(a, match.a, taken_a, family(b.op_of(match.b)))
            head_b = fold_head(b, match.b, taken_b, family(a.op_of(match.a)))
            skipped_a.update(head_a)
            skipped_b.update(head_b)
            taken_a.update(head_a)
            taken_b.update(head_b)
            continue
        new_a, new_b, interior_a, interior_b = moved
        skipped_a.update(interior_a)
        skipped_b.update(interior_b)
        taken_a.update((new_a, *interior_a))
        taken_b.update((new_b, *interior_b))
        found[new_a] = Match(new_a, new_b, f"{match.how}+fold")


