"""Capture by forward hooks, for nn.Modules that torch.fx cannot trace.

``torch.fx.symbolic_trace`` refuses data-dependent control flow (``if x.sum() > 0``) and
much of ``transformers`` (BERT, GPT-2, ViT...). Such a module still runs: a forward hook on
every submodule keeps its output, named by its module path, in one forward pass. The graph
parity aligns comes from the module tree, since nothing runs before the inputs are known.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelLoadError
from ..ops import is_ignored
from ._torch_capture import CapturedOp, FxCapture, error_line, fused_fastpath_off, module_attrs

ROOT = "<model>"
_CONTAINERS = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)
# Modules that use their children's weights without calling them (MultiheadAttention's
# out_proj): their children would never produce a value.
_OPAQUE = (torch.nn.MultiheadAttention,)
# Identity in eval mode, and often defined but never called (transformers' SDPA attention).
_SKIPPED = (torch.nn.modules.dropout._DropoutNd,)


def module_capture(module: torch.nn.Module, path: Path) -> FxCapture | HookCapture:
    """torch.fx when it can trace ``module`` (every op), else forward hooks (every module)."""
    try:
        return FxCapture.from_module(module, path)
    except ModelLoadError:
        return HookCapture(module, path)


class HookCapture:
    """Every submodule's output through forward hooks, in one pass.

    Nodes are the submodules but plain containers (``Sequential``, ``ModuleList``,
    ``ModuleDict``), named by module path, in post-order (a module after its children, as
    calls finish), each reading the one before it; the whole model is the last node and the
    output. A module called several times keeps its first call's output; functional ops
    between modules are not seen. Inputs are ``forward``'s parameters without a default
    (else its first parameter), fed by position.
    """

    def __init__(self, module: torch.nn.Module, path: Path) -> None:
        self.module = module
        self.path = path
        self.input_names = _forward_inputs(module)
        count = len(self.input_names)
        self.input_shapes: list[tuple[int, ...] | None] = [None] * count
        self.input_ranges: list[tuple[int, int] | None] = [None] * count
        self.input_dtypes: list[str | None] = [None] * count
        self._modules = {key: sub for key, sub in _post_order(module)
                         if not (is_ignored(type(sub).__name__) or isinstance(sub, _SKIPPED))}
        self.ops = []
        previous = tuple(self.input_names)
        for key, submodule in self._modules.items():
            scope = "" if key == ROOT else key
            self.ops.append(CapturedOp(key, type(submodule).__name__, scope, previous,
                                       module_attrs(submodule), is_module_call=True))
            previous = (key,)
        self.output_keys = [ROOT]

    def submodule(self, path: str) -> torch.nn.Module:
        """The submodule at a dotted module path."""
        return self.module.get_submodule(path)

    def stream(
        self, args: list[torch.Tensor], keys: list[str]
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """One forward pass, a hook on each requested module; values in graph order."""
        wanted = set(keys)
        values: dict[str, torch.Tensor] = {}

        def keeper(key: str) -> Any:
            def keep(_module: torch.nn.Module, _inputs: Any, output: Any) -> None:
                tensor = _tensor_in(output)
                if key not in values and tensor is not None:
                    values[key] = tensor.detach().clone()  # a later in-place op may change it
            return keep

        handles = [self._modules[key].register_forward_hook(keeper(key))
                   for key in self._modules if key in wanted and key != ROOT]
        try:
            with torch.no_grad(), fused_fastpath_off():
                output = self.module(*args)
        except Exception as exc:  # user model code may raise anything
            raise ModelLoadError(self.path, f"forward pass failed ({error_line(exc)})") from None
        finally:
            for handle in handles:
                handle.remove()
        final = _tensor_in(output)
        if ROOT in wanted and final is not None:
            values[ROOT] = final.detach()
        for key in self._modules:
            if key in values:
                yield key, values.pop(key)


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


def _tensor_in(output: Any) -> torch.Tensor | None:
    """The tensor a module returned: itself, or the first in a tuple, list or mapping
    (``transformers``' ModelOutput)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return next((item for item in output if isinstance(item, torch.Tensor)), None)
    return None
