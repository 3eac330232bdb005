"""The one interface every framework adapter implements.

An adapter loads a model, describes its graph, and runs it ONCE to any set of named
nodes. Adapters implement ``_load_graph`` and ``_run``; the public methods here do the
checking once for all of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .errors import InputError, ModelLoadError, NodeNotFound
from .graph import Graph, fits, shape_text
from .heap import reuse_freed_blocks


class Backend(ABC):
    """A loaded model that can be run to named nodes.

    Subclasses set ``name`` and ``extra`` and implement ``_load_graph`` and ``_run``.
    ``__init__`` must load the model (raising :class:`ModelLoadError` naming the file).
    """

    name: ClassVar[str]
    extra: ClassVar[str]

    def __init__(self, path: Path, weights: Path | None = None, **options: Any) -> None:
        self.path = Path(path)
        self.weights = weights
        self.options = options
        self._release_after_run = False
        reuse_freed_blocks()  # before the model's weights are allocated (parity.heap)

    @property
    def label(self) -> str:
        """The model as the user named it: its path, with ``:factory`` for a Python factory
        (so two factories of one file read apart in reports)."""
        factory = self.options.get("factory")
        return f"{self.path}:{factory}" if factory else str(self.path)

    @cached_property
    def graph(self) -> Graph:
        """Nodes in topological order, inputs with shapes, outputs."""
        return self._load_graph()

    @cached_property
    def discrete(self) -> set[str]:
        """Names whose values the last pass produced as booleans or integers (handed out
        as float64): masks, ids and shapes, which carry no rounding noise."""
        return set()

    def run(self, feeds: Mapping[str, np.ndarray], fetch: Sequence[str]) -> dict[str, np.ndarray]:
        """One forward pass; the outputs of the ``fetch`` nodes as float arrays.

        All requested nodes come from the same single pass. A graph input's name fetches
        the array fed to it.
        """
        return dict(self.stream(feeds, fetch))

    def stream(
        self, feeds: Mapping[str, np.ndarray], fetch: Sequence[str]
    ) -> Iterator[tuple[str, np.ndarray]]:
        """Like :meth:`run`, but yields ``(name, array)`` as the pass produces them.

        Backends that can hand out tensors during the pass do (torch.fx); the others yield
        from their single run, letting each array go once it has been consumed.
        """
        self._check_feeds(feeds)
        self.observe(feeds)
        wanted = list(dict.fromkeys(fetch))
        for name in wanted:
            if not self.graph.has_point(name):
                raise NodeNotFound(name, str(self.path), self.graph.closest(name))
        for name in wanted:
            if name in feeds:
                yield name, self._handed_out(name, feeds[name])
        nodes = [name for name in wanted if name in self.graph and name not in feeds]
        if not nodes:
            return
        produced = set()
        for name, value in self._stream(feeds, nodes):
            produced.add(name)
            yield name, self._handed_out(name, value)
        missing = [name for name in nodes if name not in produced]
        if missing:
            raise ModelLoadError(self.path, f"the {self.name} run produced no value for {missing}")

    def _stream(
        self, feeds: Mapping[str, np.ndarray], fetch: list[str]
    ) -> Iterator[tuple[str, Any]]:
        """Default: one :meth:`_run`, then hand the arrays out one by one."""
        outputs = dict(self._run(feeds, fetch))
        self._release_if_asked()
        for name in fetch:
            if name in outputs:
                yield name, outputs.pop(name)

    def observe(self, feeds: Mapping[str, np.ndarray]) -> None:
        """See the inputs before the graph is aligned. A backend that learns its graph by
        running (an eager torch module) records it here; the others know it already."""

    @property
    def graph_needs_input(self) -> bool:
        """Whether :attr:`graph` is a stand-in until :meth:`observe` has seen an input (an
        eager-recorded torch module shows its module tree until then)."""
        return False

    @property
    def graph_before_input(self) -> str:
        """What :attr:`graph` shows while :attr:`graph_needs_input` (a note's words)."""
        return "its graph before a run"

    def declared_preprocessing(self) -> dict[str, dict[str, Any]]:
        """Preprocessing the model file declares per input (Caffe ``transform_param``):
        ``{input: {"mean": (...), "scale": s}}``. Most formats declare none."""
        return {}

    def parameters(self, node: str) -> dict[str, np.ndarray]:
        """Learned parameters of ``node`` as float arrays, under framework-neutral keys.

        Keys: ``weight``, ``bias`` (conv, fully connected: torch/ONNX layout, output
        channels first), ``mean``, ``var``, ``gamma``, ``beta`` (batch norm), ``slope``
        (PReLU), ``table`` (a parameter an index or Gather picks slices of along its first
        axis: batched experts' stacked weights). Backends that cannot tell return an empty
        dict.
        """
        return {}

    def release_after_next_run(self) -> None:
        """Let go of what only running needs (an inference session) as soon as the next
        run's outputs are out, so the other model runs without this one's session beside
        it. The outputs are kept; a later run builds the session again."""
        self._release_after_run = True

    def release(self) -> None:
        """Drop what :meth:`run` can build again; the default holds nothing of the kind."""

    def _release_if_asked(self) -> None:
        """Once a run's outputs are out: :meth:`release`, if :meth:`release_after_next_run`
        asked for it."""
        if self._release_after_run:
            self._release_after_run = False
            self.release()

    def close(self) -> None:
        """Release framework resources; the default keeps nothing to release."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def _load_graph(self) -> Graph:
        """Describe the model's graph."""

    @abstractmethod
    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> Mapping[str, Any]:
        """One forward pass returning the outputs of ``fetch`` (any array-like)."""

    def _check_feeds(self, feeds: Mapping[str, np.ndarray]) -> None:
        expected = {spec.name: spec for spec in self.graph.inputs}
        unknown = sorted(set(feeds) - set(expected))
        missing = sorted(set(expected) - set(feeds))
        if unknown or missing:
            raise InputError(
                f"{self.path}: inputs do not match the model's "
                f"(model wants {sorted(expected)}, got {sorted(feeds)})"
            )
        for name, array in feeds.items():
            shape = expected[name].shape
            if not fits(shape, array.shape):
                raise InputError(
                    f"{self.path}: input {name!r} has shape {tuple(array.shape)}, "
                    f"the model wants {shape_text(shape)}"  # type: ignore[arg-type]
                )


    def _handed_out(self, name: str, value: Any) -> np.ndarray:
        """``value`` as a float array, its name noted in :attr:`discrete` if it was not."""
        array = np.asarray(value)
        if np.issubdtype(array.dtype, np.floating):
            self.discrete.discard(name)
            return array
        self.discrete.add(name)
        return array.astype(np.float64)

