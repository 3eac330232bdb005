"""A concat whose inputs are joined in another order (concat_order)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ops import op_class
from ..report import SHAPE_MISMATCH, Hint, PairResult
from .codes import CONCAT_ORDER
from .evidence import Evidence
from .fit import fits
from .vocabulary import describe

_CONCAT = op_class("Concat")


def concat_order(evidence: Evidence) -> list[Hint]:
    """A concat whose output matches once its input blocks are put in the other order,
    also when a block is a constant (a class token concatenated to the patch tokens)."""
    hints = []
    for pair in evidence.roots:
        if pair.status == SHAPE_MISMATCH or op_class(evidence.graph_a.op_of(pair.a)) != _CONCAT:
            continue
        found = _blocks(evidence, pair, evidence.upstream(pair))
        order = _block_order(evidence, pair, *found) if found is not None else None
        if order is not None and order != sorted(order):
            hints.append(_concat_hint(evidence, pair, found[0], found[1], order))
    return hints


@dataclass(frozen=True)
class _Block:
    """One block of A's concat output: a compared input (``pair``), or a constant the
    graph does not list as an input (``pair`` None)."""

    pair: PairResult | None
    offset: int
    size: int


def _blocks(evidence: Evidence, pair: PairResult,
            upstream: list[PairResult]) -> tuple[list[_Block], int] | None:
    """A's output cut into its blocks along the concat axis, in A's order: where each
    compared input lies in it, and the stretches between them (constants)."""
    values = evidence.values(pair)
    inputs = [(u, v[0]) for u in upstream if (v := evidence.values(u)) is not None]
    if values is None or not inputs or len(inputs) != len(upstream):
        return None
    out = values[0]
    axis = _concat_axis([v.shape for _, v in inputs], out.shape)
    if axis is None:
        axis = _stated_axis(evidence, pair, out.ndim)
    if axis is None or any(v.ndim != out.ndim for _, v in inputs):
        return None
    placed: list[_Block] = []
    for u, value in inputs:
        size = value.shape[axis]
        taken = {o for b in placed for o in range(b.offset, b.offset + b.size)}
        offset = next((o for o in range(out.shape[axis] - size + 1)
                       if not taken & set(range(o, o + size))
                       and fits(value, _block(out, axis, o, size))), None)
        if offset is None:
            return None
        placed.append(_Block(u, offset, size))
    placed.sort(key=lambda b: b.offset)
    blocks, end = [], 0
    for block in placed:
        if block.offset > end:
            blocks.append(_Block(None, end, block.offset - end))
        blocks.append(block)
        end = block.offset + block.size
    if end < out.shape[axis]:
        blocks.append(_Block(None, end, out.shape[axis] - end))
    return (blocks, axis) if len(blocks) >= 2 else None


def _stated_axis(evidence: Evidence, pair: PairResult, rank: int) -> int | None:
    """The axis A's concat node states, made non-negative."""
    axis = describe(evidence.a, pair.a).get("axis")
    return int(axis) % rank if isinstance(axis, int) and rank else None


def _block_order(evidence: Evidence, pair: PairResult, blocks: list[_Block],
                 axis: int) -> list[int] | None:
    """For each block of B's output along the concat axis, which of A's blocks it holds."""
    values = evidence.values(pair)
    if values is None or values[1].shape != values[0].shape:
        return None
    out_a, target = values
    order: list[int] = []
    offset = 0
    while len(order) < len(blocks):
        found = next((i for i, b in enumerate(blocks) if i not in order and fits(
            _block(out_a, axis, b.offset, b.size), _block(target, axis, offset, b.size))), None)
        if found is None:
            return None
        order.append(found)
        offset += blocks[found].size
    return order


def _block(target: np.ndarray, axis: int, offset: int, size: int) -> np.ndarray:
    """``size`` slices of ``target`` along ``axis`` from ``offset`` (fewer past the end)."""
    index = [slice(None)] * target.ndim
    index[axis] = slice(offset, offset + size)
    return target[tuple(index)]


def _concat_axis(shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> int | None:
    """The axis along which blocks of ``shapes`` stack up to ``out``."""
    for axis in range(len(out)):
        rest = [s[:axis] + s[axis + 1:] for s in shapes]
        if (all(len(s) == len(out) for s in shapes) and sum(s[axis] for s in shapes) == out[axis]
                and all(r == out[:axis] + out[axis + 1:] for r in rest)):
            return axis
    return None


def _concat_hint(evidence: Evidence, pair: PairResult, blocks: list[_Block], axis: int,
                 order: list[int]) -> Hint:
    concat_b = evidence.node_of_class("b", pair.b, _CONCAT) or pair.b
    b_inputs = evidence.graph_b.node(concat_b).inputs if concat_b in evidence.graph_b else ()
    named_b = dict(zip(order, b_inputs)) if len(b_inputs) == len(blocks) else {}

    def name(i: int, side: str) -> str:
        block = blocks[i]
        if block.pair is not None:
            return f"`{block.pair.a if side == 'a' else block.pair.b}`"
        if side == "b" and i in named_b:
            return f"`{named_b[i]}`"
        return f"a constant block of {block.size}"

    def listed(indices: list[int], side: str) -> str:
        return ", ".join(name(i, side) for i in indices)

    in_order = list(range(len(blocks)))
    sizes_a = ", ".join(str(b.size) for b in blocks)
    sizes_b = ", ".join(str(blocks[i].size) for i in order)
    message = (f"B's `{pair.b}` joins its inputs in the order ({listed(order, 'b')}) where "
               f"A's `{pair.a}` joins the same tensors as ({listed(in_order, 'a')}) along axis "
               f"{axis} (block sizes: A {sizes_a}, B {sizes_b}): the blocks match once "
               f"reordered. Make them agree on the converted side: in B "
               f"({evidence.b.path.name}), list the inputs of `{concat_b}` as "
               f"({listed(in_order, 'b')}); or in A ({evidence.a.path.name}), list the "
               f"inputs of `{pair.a}` as ({listed(order, 'a')}).")
    return Hint(CONCAT_ORDER, pair.a, message,
                {"order_b": [name(i, "b").strip("`") for i in order],
                 "order_a": [name(i, "a").strip("`") for i in in_order],
                 "axis": axis, "sizes_a": [b.size for b in blocks],
                 "b_node": pair.b})
