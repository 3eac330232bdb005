"""Pair two tensor streams: hand out each aligned pair as soon as both sides have it.

Pulls from the side that is behind, so with a streaming backend on either side only the
tensors still waiting for their partner are alive, never a whole model's activations
twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from .align import Match

Stream = Iterable[tuple[str, np.ndarray]]


def paired(
    stream_a: Stream, stream_b: Stream, matches: Sequence[Match]
) -> Iterator[tuple[Match, np.ndarray, np.ndarray]]:
    """``(match, value_a, value_b)`` for every match, as soon as both values exist."""
    by_a = {m.a: m for m in matches}
    by_b = {m.b: m for m in matches}
    sources = {"a": iter(stream_a), "b": iter(stream_b)}
    pending: dict[str, dict[str, np.ndarray]] = {"a": {}, "b": {}}
    while sources:
        side = _side_to_pull(pending, sources)
        try:
            name, value = next(sources[side])
        except StopIteration:
            del sources[side]
            continue
        match = by_a[name] if side == "a" else by_b[name]
        other = "b" if side == "a" else "a"
        partner = match.b if side == "a" else match.a
        if partner in pending[other]:
            other_value = pending[other].pop(partner)
            yield (match, value, other_value) if side == "a" else (match, other_value, value)
        else:
            pending[side][name] = value


def _side_to_pull(pending: dict[str, dict[str, np.ndarray]], sources: dict[str, Iterator]) -> str:
    """The side whose values the other side is waiting for, else A."""
    if pending["a"] and "b" in sources:
        return "b"
    if pending["b"] and "a" in sources:
        return "a"
    return "a" if "a" in sources else "b"
