"""What the checks may look at: graphs, parameters, and the tensors kept for diagnosis."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..align import Alignment
from ..backend import Backend
from ..graph import Graph
from ..metrics import Tolerance
from ..ops import op_class
from ..report import PairResult


@dataclass
class Evidence:
    """One comparison's material, shared by every check.

    ``values_a``/``values_b`` hold the tensors of the divergence roots and of the pairs
    right upstream of them (their nearest compared ancestors), keyed by node name.
    """

    a: Backend
    b: Backend
    alignment: Alignment
    pairs: tuple[PairResult, ...]
    roots: tuple[PairResult, ...]
    tolerance: Tolerance
    values_a: Mapping[str, np.ndarray] = field(default_factory=dict)
    values_b: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def graph_a(self) -> Graph:
        return self.a.graph

    @property
    def graph_b(self) -> Graph:
        return self.b.graph

    @cached_property
    def pair_of_a(self) -> dict[str, PairResult]:
        return {p.a: p for p in self.pairs}

    def values(self, pair: PairResult) -> tuple[np.ndarray, np.ndarray] | None:
        """Both sides' tensors of ``pair``, when kept."""
        if pair.a in self.values_a and pair.b in self.values_b:
            return self.values_a[pair.a], self.values_b[pair.b]
        return None

    def upstream(self, pair: PairResult) -> list[PairResult]:
        """The compared pairs right upstream of ``pair`` (looking through uncompared nodes)."""
        return [self.pair_of_a[name] for name in self._nearest.get(pair.a, ())]

    @cached_property
    def _nearest(self) -> dict[str, tuple[str, ...]]:
        return self.graph_a.nearest(self.pair_of_a)

    @cached_property
    def _nearest_b(self) -> dict[str, tuple[str, ...]]:
        return self.graph_b.nearest({p.b for p in self.pairs})

    def compared_sources(self, side: str, name: str) -> frozenset[str]:
        """``name`` if side ``side`` compared it, else its nearest compared ancestors."""
        compared = self.pair_of_a if side == "a" else {p.b for p in self.pairs}
        if name in compared:
            return frozenset((name,))
        nearest = self._nearest if side == "a" else self._nearest_b
        return frozenset(nearest.get(name, ()))

    def backend(self, side: str) -> Backend:
        """Side ``"a"`` or ``"b"``'s backend."""
        return self.a if side == "a" else self.b

    def graph(self, side: str) -> Graph:
        """Side ``"a"`` or ``"b"``'s graph."""
        return self.backend(side).graph

    def parameters(self, side: str, node: str) -> dict[str, np.ndarray]:
        backend = self.backend(side)
        return backend.parameters(node) if node in backend.graph else {}

    def node_of_class(self, side: str, node: str, cls: str) -> str | None:
        """The first node of op class ``cls`` in ``node``'s chain (e.g. the BatchNorm of
        a Caffe BatchNorm + Scale pair), if any."""
        graph = self.graph(side)
        return next((n for n in self.chain(side, node)
                     if n in graph and op_class(graph.node(n).op) == cls), None)

    def chain(self, side: str, node: str) -> list[str]:
        """``node`` preceded by the skipped nodes folded into it (its fold interior)."""
        graph = self.graph(side)
        skipped = set(self.alignment.skipped_a if side == "a" else self.alignment.skipped_b)
        chain = [node]
        while chain[0] in graph:
            parents = [p for p in graph.node(chain[0]).inputs if p in skipped]
            if len(parents) != 1:
                break
            chain.insert(0, parents[0])
        return chain

    def stretch(self, side: str, node: str) -> list[str]:
        """``node`` preceded by every uncompared ancestor up to the compared nodes: its fold
        interior and the layers the alignment left unmatched (a GroupNorm exported as
        Reshape, InstanceNormalization, Reshape, Mul, Add), in graph order."""
        graph = self.graph(side)
        alignment = self.alignment
        compared = {m.a if side == "a" else m.b for m in alignment.pairs}
        loose = set(alignment.skipped_a if side == "a" else alignment.skipped_b) | set(
            alignment.unmatched_a if side == "a" else alignment.unmatched_b)
        found, todo = set(), [node]
        while todo:
            name = todo.pop()
            if name not in graph:
                continue
            for parent in graph.node(name).inputs:
                if parent in loose and parent not in compared and parent not in found:
                    found.add(parent)
                    todo.append(parent)
        return [n.name for n in graph if n.name in found] + [node]
