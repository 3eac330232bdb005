"""Framework-neutral description of a model graph: what every backend reports."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import NodeNotFound

Shape = tuple[int | None, ...]


def dims_text(shape: Shape | None, sep: str = "x") -> str:
    """``1x3x224x224`` as tables show shapes: ``?`` for an open dimension or an unknown
    shape, ``scalar`` for ``()``."""
    if shape is None:
        return "?"
    return sep.join("?" if d is None else str(d) for d in shape) or "scalar"


def fits(shape: Shape | None, actual: tuple[int, ...]) -> bool:
    """Whether an array of shape ``actual`` fits a declared ``shape`` (None dims are open;
    an unknown shape fits anything)."""
    return shape is None or (len(shape) == len(actual) and all(
        want is None or want == got for want, got in zip(shape, actual)))


def shape_text(shape: Shape) -> str:
    """``(1, 3, ?, ?)`` as messages write shapes."""
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


@dataclass(frozen=True)
class TensorSpec:
    """A graph input: name, shape, dtype, and the ids it may hold.

    ``shape`` is ``None`` when the model does not record it (TorchScript); a dimension
    is ``None`` when the model leaves it open. ``dtype`` is a numpy dtype name, or ``None``
    when the model does not declare one (a TorchScript or traced module's input).
    ``index_range`` is ``(low, high)``, the ids ``low <= i < high`` an integer input may
    hold, where the model shows it (the rows of the embedding or Gather table it indexes).
    """

    name: str
    shape: Shape | None
    dtype: str | None = "float32"
    index_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class Node:
    """One comparable point of a graph: an op and the tensor it produces.

    Attributes:
        name: the key a backend's ``run`` accepts to fetch this node's output.
        op: the framework's own op type (``Conv``, ``aten::_convolution``, ``Convolution``...).
        inputs: names of the nodes or graph inputs this node reads.
        attrs: normalised attributes (``eps``, ``kernel``, ``stride``, ``pad``, ``dilation``,
            ``group``, ``ceil_mode``...), framework defaults filled in.
        shape: output shape when the backend knows it before running.
        scope: the module path the node belongs to, where the framework records one
            (``layer1.0.conv1``); used to match nodes across frameworks.
    """

    name: str
    op: str
    inputs: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)
    shape: Shape | None = None
    scope: str = ""


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order, plus the model's inputs and final outputs."""

    nodes: tuple[Node, ...]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[str, ...] = ()
    source: str = ""

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @cached_property
    def _by_name(self) -> dict[str, Node]:
        return {node.name: node for node in self.nodes}

    @cached_property
    def order(self) -> dict[str, int]:
        """Position of every node in topological order."""
        return {node.name: i for i, node in enumerate(self.nodes)}

    def node(self, name: str) -> Node:
        """The node called ``name``; raises :class:`NodeNotFound` listing close names."""
        try:
            return self._by_name[name]
        except KeyError:
            raise NodeNotFound(name, self.source or "graph", self.closest(name)) from None

    def closest(self, name: str, n: int = 3) -> list[str]:
        """Up to ``n`` node names that look like ``name``."""
        return difflib.get_close_matches(name, list(self._by_name), n=n, cutoff=0.4)

    @cached_property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    def has_point(self, name: str) -> bool:
        """True for a node or a graph input: anything ``Backend.run`` can fetch."""
        return name in self._by_name or name in self.input_names

    @cached_property
    def consumers(self) -> dict[str, tuple[str, ...]]:
        """Node or input name -> names of the nodes reading it, in topological order."""
        found: dict[str, list[str]] = {}
        for node in self.nodes:
            for source in node.inputs:
                found.setdefault(source, []).append(node.name)
        return {name: tuple(users) for name, users in found.items()}

    def nearest(self, compared: Collection[str]) -> dict[str, tuple[str, ...]]:
        """For every node and input: the closest ``compared`` points upstream of it,
        looking through nodes that are not compared."""
        nearest: dict[str, tuple[str, ...]] = {name: () for name in self.input_names}
        for node in self.nodes:  # topological order: parents are resolved first
            found: dict[str, None] = {}
            for parent in node.inputs:
                if parent in compared:
                    found[parent] = None
                else:
                    found.update(dict.fromkeys(nearest.get(parent, ())))
            nearest[node.name] = tuple(found)
        return nearest

    def op_of(self, name: str) -> str:
        """Op type of a node, ``Input`` for a graph input."""
        return "Input" if name in self.input_names else self.node(name).op
