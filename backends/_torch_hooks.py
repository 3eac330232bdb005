"""Capture by an eager pass, for nn.Modules that torch.fx cannot trace.

``torch.fx.symbolic_trace`` refuses data-dependent control flow (``if x.sum() > 0``) and
much of ``transformers`` (BERT, GPT-2, ViT...). Such a module still runs: one eager pass on
the real inputs records every op, with its module scope and its inputs
(:mod:`._torch_eager`), and keeps their values for the comparison that follows. Until it
has run, its graph is the module tree (``parity align`` and ``parity inspect`` run it on
compare's input first, and fall back to the tree with a note when no input can be drawn).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from parity.backends._torch_capture import CapturedOp, FxCapture, error_line, module_attrs
from parity.backends._torch_eager import RecordedPass, record_pass
from parity.errors import ModelLoadError
from parity.ops import is_ignored

ROOT = "<model>"
_CONTAINERS = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)
# Modules that use their children's weights without calling them (MultiheadAttention's
# out_proj): their children would never produce a value.
_OPAQUE = (torch.nn.MultiheadAttention,)
# Identity in eval mode, and often defined but never called (transformers' SDPA attention).
_SKIPPED = (torch.nn.modules.dropout._DropoutNd,)


def module_capture(module: torch.nn.Module, path: Path) -> FxCapture | HookCapture:
    """torch.fx when it can trace ``module``, else an eager pass (every op either way)."""
    try:
        return FxCapture.from_module(module, path)
    except ModelLoadError:
        return HookCapture(module, path)


class HookCapture:
    """Every op of an eager forward pass, recorded in that pass.

    :meth:`record` runs the module once on the first input and makes :attr:`ops` the ops
    it ran (``<module path>/<op>#k``, named by :func:`name_ops` as TorchScript ops are),
    keeping every op's value by reference until :meth:`stream` hands out those asked for.
    Later inputs are new passes that keep only the values asked for; an input that takes
    another path through the module's code than the first is refused.

    Before :meth:`record`, :attr:`ops` is the module tree: the submodules but plain
    containers, by module path, in post-order, each reading the one before it.
    Inputs are ``forward``'s parameters without a default (else its first), fed by position.
    """

    def __init__(self, module: torch.nn.Module, path: Path) -> None:
        self.module = module
        self.path = path
        self.input_names = _forward_inputs(module)
        count = len(self.input_names)
        self.input_shapes: list[tuple[int, ...] | None] = [None] * count
        self.input_ranges: list[tuple[int, int] | None] = [None] * count
        self.input_dtypes: list[str | None] = [None] * count
        self.ops = _module_tree(module)
        self.output_keys = [ROOT]
        self.recorded = False
        self._kept: dict[str, torch.Tensor] = {}
        self._kept_for: list[torch.Tensor] | None = None

    def submodule(self, path: str) -> torch.nn.Module:
        """The submodule at a dotted module path."""
        return self.module.get_submodule(path)

    def record(self, args: list[torch.Tensor]) -> None:
        """The first pass: its ops become the graph, its values are kept for :meth:`stream`."""
        if self.recorded:
            return
        recorded = self._pass(args, lambda _key: True)
        self.ops, self.output_keys = recorded.ops, recorded.output_keys
        self._kept, self._kept_for = recorded.values, args
        self.recorded = True

    def stream(
        self, args: list[torch.Tensor], keys: list[str]
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """The requested values of the pass on ``args`` (the recorded one, or a new one)."""
        self.record(args)
        values, kept_for = self._kept, self._kept_for
        self._kept, self._kept_for = {}, None  # kept for one stream of the recorded input
        if args is not kept_for:
            recorded = self._pass(args, set(keys).__contains__)
            if [op.key for op in recorded.ops] != [op.key for op in self.ops]:
                raise ModelLoadError(self.path, "this input took another path through the "
                                                "module's code than the first input did; "
                                                "compare such inputs one at a time")
            values = recorded.values
        wanted = set(keys)
        for op in self.ops:
            if op.key in wanted and op.key in values:
                yield op.key, values.pop(op.key)

    def _pass(self, args: list[torch.Tensor], keep: Callable[[str], bool]) -> RecordedPass:
        try:
            return record_pass(self.module, dict(zip(self.input_names, args)), keep)
        except Exception as exc:  # user model code may raise anything
            raise ModelLoadError(self.path, f"forward pass failed ({error_line(exc)})"
                                 ) from None


def _module_tree(module: torch.nn.Module) -> list[CapturedOp]:
    """The submodules as a chain in post-order, the whole model last (the output)."""
    ops = []
    previous = tuple(_forward_inputs(module))
    for key, submodule in _post_order(module):
        if is_ignored(type(submodule).__name__) or isinstance(submodule, _SKIPPED):
            continue
        scope = "" if key == ROOT else key
        ops.append(CapturedOp(key, type(submodule).__name__, scope, previous,
                              module_attrs(submodule), is_module_call=True))
        previous = (key,)
    return ops


def _post_order(module: torch.nn.Module, prefix: str = ""
                ) -> Iterator[tuple[str, torch.nn.Module]]:
    """``(path, module)``, children before their parent, containers skipped, root last."""
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if not isinstance(child, _OPAQUE):
            yield from _post_order(child, path)
        if not isinstance(child, _CONTAINERS):
            yield path, child
    if not prefix:
        yield ROOT, module


def _forward_inputs(module: torch.nn.Module) -> list[str]:
    """``forward``'s positional parameters without a default, else its first parameter."""
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return ["input"]
    positional = [p for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in positional if p.default is p.empty]
    return required or [p.name for p in positional[:1]] or ["input"]
