"""PyTorch adapter: TorchScript archives, torch.export programs and nn.Module factories.

Factories torch.fx cannot trace are recorded op by op in an eager pass on the first input
(their graph is known once they have run: :meth:`TorchBackend.observe`). Every captured op
is named by the module it runs in (``layer1.0.conv1``), so names read like
``model.named_modules()``; ops that run directly in a container module are named
``scope/op`` (``layer1.0/add``), and a repeated call gets a ``:k`` suffix.
All requested nodes are captured in one forward pass under ``torch.no_grad()``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import sys
import traceback
import zipfile
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from parity.backend import Backend
from parity.backends._torch_capture import (
    FxCapture,
    TorchScriptCapture,
    error_line,
    name_ops,
)
from parity.backends._torch_hooks import HookCapture, module_capture
from parity.backends._torch_safety import load_checked
from parity.errors import ModelLoadError
from parity.graph import Graph, Node, TensorSpec
from parity.ops import family


class TorchBackend(Backend):
    """Runs PyTorch models on the CPU in eval mode."""

    name = "pytorch"
    extra = "torch"

    def __init__(self, path: Path, weights: Path | None = None, **options: Any) -> None:
        super().__init__(path, weights, **options)
        factory = options.get("factory")
        if factory:
            module = _module_from_factory(str(self.path), factory)
            if weights is not None:
                _load_state_dict(module, weights)
            self.was_training = module.training
            self._capture = module_capture(
                module.eval(), self.path
            )
        elif weights is not None:
            raise ModelLoadError(weights, f"not used: {self.path.name} holds its own weights "
                                          "(weights go with a file.py:factory model)")
        elif self.path.suffix == ".pt2":
            self.was_training = False
            program = load_checked(self.path, _load_exported, options.get("trust_code", False))
            self._capture = FxCapture.from_exported(program, self.path)
        else:
            module = load_checked(self.path, _load_torchscript, options.get("trust_code", False))
            self.was_training = module.training
            self._capture = TorchScriptCapture(module.eval(), self.path)
        self._observed: tuple[Mapping[str, np.ndarray], list[torch.Tensor]] | None = None
        # a TorchScript pass made in observe(): its feeds and every op's value
        self._made: tuple[Mapping[str, np.ndarray], dict[str, torch.Tensor]] | None = None
        self._shaped = False
        self._name_ops()

    def _name_ops(self) -> None:
        self._names = name_ops(self._capture.ops)
        self._key_of = {name: op.key for op, name in zip(self._capture.ops, self._names)}
        self._tables = {name: op.table for op, name in zip(self._capture.ops, self._names)
                        if op.table}

    def observe(self, feeds: Mapping[str, np.ndarray]) -> None:
        """A factory recorded in an eager pass gets its op graph from its first input: the
        pass runs here, its values are kept for the :meth:`stream` of the same feeds. A
        TorchScript graph whose slices compute their bounds gets its shapes (what those
        slices cut: the whole axis, nothing, a half) from its one pass on the first input,
        made here: its values are kept for the :meth:`stream` of the same feeds."""
        capture = self._capture
        if isinstance(capture, TorchScriptCapture) and not self._shaped \
                and capture.computes_slice_bounds:
            self._made = (feeds, capture.observe(self._args(feeds)))
            self._shaped = True
            self.__dict__.pop("graph", None)  # the graph again, with its shapes
            return
        if not isinstance(capture, HookCapture) or capture.recorded:
            return
        args = self._args(feeds)
        capture.record(args)
        self._observed = (feeds, args)
        self.__dict__.pop("graph", None)  # the recorded graph replaces the module tree
        self._name_ops()

    @property
    def graph_needs_input(self) -> bool:
        """True for a factory recorded in an eager pass until :meth:`observe` has run it,
        and for a TorchScript graph whose slices compute their bounds until it has its
        shapes."""
        if isinstance(self._held, HookCapture):
            return not self._held.recorded
        return isinstance(self._held, TorchScriptCapture) and not self._shaped \
            and self._held.computes_slice_bounds

    @property
    def graph_before_input(self) -> str:
        if isinstance(self._held, HookCapture):
            return "its module tree, not the ops it runs"
        return "its graph without shapes (what its computed slices cut is not known)"

    def _load_graph(self) -> Graph:
        ops = self._capture.ops
        name_of = {op.key: name for op, name in zip(ops, self._names)}
        input_names = self._capture.input_names
        nodes = []
        for op, name in zip(ops, self._names):
            reads = tuple(
                dict.fromkeys(name_of.get(k, k) for k in op.reads
                              if k in name_of or k in input_names)
            )
            nodes.append(Node(name=name, op=op.op, inputs=reads, attrs=op.attrs, shape=op.shape,
                              scope=op.scope))
        capture = self._capture
        inputs = tuple(
            TensorSpec(*spec) for spec in zip(input_names, capture.input_shapes,
                                              capture.input_dtypes, capture.input_ranges)
        )
        outputs = tuple(name_of.get(k, k) for k in self._capture.output_keys)
        return Graph(tuple(nodes), inputs, outputs, source=str(self.path))

    def parameters(self, node: str) -> dict[str, np.ndarray]:
        """The state of the module a node's op belongs to, keyed as :meth:`Backend.parameters`."""
        if node in self._tables:
            head, _, attr = self._tables[node].rpartition(".")
            table = getattr(self._capture.submodule(head) if head else self._capture.module,
                            attr)
            return {"table": table.detach().cpu().double().numpy()}
        scope = self.graph.node(node).scope
        if not scope or node.split(":")[0] != scope:
            return {}
        try:
            module = self._capture.submodule(scope)
        except (AttributeError, KeyError):
            return {}
        found = {}
        kind = _module_kind(module) or _op_kind(self.graph.node(node).op)
        for attr, key in _STATE_KEYS.get(kind, {}).items():
            value = getattr(module, attr, None)
            if isinstance(value, torch.Tensor):
                found[key] = value.detach().cpu().double().numpy()
        return found

    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> dict[str, np.ndarray]:
        return dict(self._stream(feeds, fetch))

    def _stream(
        self, feeds: Mapping[str, np.ndarray], fetch: list[str]
    ) -> Iterator[tuple[str, np.ndarray]]:
        """Values as the pass makes them (torch.fx), or after it (TorchScript)."""
        name_of = {self._key_of[name]: name for name in fetch}
        observed, self._observed = self._observed, None
        made, self._made = self._made, None
        if made is not None and made[0] is feeds:  # observe() made them: no second pass
            values: Iterator[tuple[str, torch.Tensor]] = iter(
                [(key, made[1][key]) for key in name_of])
            del made  # the values not fetched go now
        else:
            args = observed[1] if observed and observed[0] is feeds else self._args(feeds)
            values = self._capture.stream(args, list(name_of))
        if isinstance(self._held, TorchScriptCapture):  # one call has made every value
            values = _drained(deque(values))
            self._release_if_asked()
        for key, value in values:
            yield name_of[key], _as_numpy(value.detach().cpu())

    def release(self) -> None:
        """A TorchScript module (its weights) is let go; a run or :meth:`parameters` after
        this loads the archive again."""
        if isinstance(self._held, TorchScriptCapture):
            self._held = None

    @property
    def _capture(self) -> FxCapture | TorchScriptCapture | HookCapture:
        if self._held is None:  # let go by release()
            module = load_checked(self.path, _load_torchscript,
                                  self.options.get("trust_code", False))
            self._held = TorchScriptCapture(module.eval(), self.path)
        return self._held

    @_capture.setter
    def _capture(self, capture: FxCapture | TorchScriptCapture | HookCapture) -> None:
        self._held: FxCapture | TorchScriptCapture | HookCapture | None = capture


    def _args(self, feeds: Mapping[str, np.ndarray]) -> list[torch.Tensor]:
        return [torch.from_numpy(np.ascontiguousarray(feeds[n]))
                for n in self._capture.input_names]


def _drained(queue: deque) -> Iterator[tuple[str, torch.Tensor]]:
    """The queue's values in order, each let go as it is handed out."""
    while queue:
        yield queue.popleft()


def _as_numpy(value: torch.Tensor) -> np.ndarray:
    """The tensor as an array; dtypes numpy lacks (bfloat16, float8) are widened to float32."""
    try:
        return value.numpy()
    except TypeError:
        return value.float().numpy()


_PARAMETRIC = {"weight": "weight", "bias": "bias"}
_STATE_KEYS = {
    "conv": _PARAMETRIC,
    "linear": _PARAMETRIC,
    "batchnorm": {"weight": "gamma", "bias": "beta", "running_mean": "mean",
                  "running_var": "var"},
    "prelu": {"weight": "slope"},
}


def _module_kind(module: torch.nn.Module) -> str:
    """``conv``, ``linear``, ``batchnorm`` or ``prelu`` from the module's class name."""
    name = getattr(module, "original_name", type(module).__name__).lower()
    for kind in ("conv", "linear", "batchnorm", "prelu"):
        if name.startswith(kind):
            return kind
    return ""


def _op_kind(op: str) -> str:
    """The same from the node's op, for a module that lost its class: torch.export's
    unflattened submodules are plain ``Module`` objects holding the layer's tensors."""
    kind = family(op)
    return kind if kind in _STATE_KEYS else ""


def _load_torchscript(path: Path) -> torch.jit.ScriptModule:
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError subclasses with long C++ traces
        raise ModelLoadError(path, f"not a loadable TorchScript archive ({error_line(exc)})"
                             ) from None


def _load_exported(path: Path) -> torch.export.ExportedProgram:
    """A torch.export program; torch's own warning (a logged traceback) is kept quiet."""
    if not _has_entry(path, "archive_format"):
        raise ModelLoadError(path, "not a torch.export archive (no archive_format entry; "
                                   "a TorchScript archive should be named .pt)")
    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return torch.export.load(str(path))
    except Exception as exc:  # see _load_torchscript
        raise ModelLoadError(path, f"not a loadable torch.export program ({error_line(exc)})"
                             ) from None
    finally:
        logger.setLevel(level)


def _has_entry(path: Path, name: str) -> bool:
    """Whether the zip archive at ``path`` has a file called ``name`` (in any folder)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(entry.rsplit("/", 1)[-1] == name for entry in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _module_from_factory(target: str, factory: str) -> torch.nn.Module:
    """Import ``target`` (a .py file or a dotted module) and call ``factory()``."""
    if target.endswith(".py"):
        spec = importlib.util.spec_from_file_location(Path(target).stem, target)
        if spec is None or spec.loader is None:
            raise ModelLoadError(target, "cannot import this file")
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(spec.name, module)
        with _user_code(target, "importing it"):
            spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ModelLoadError(target, f"cannot import module ({exc})") from None
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise ModelLoadError(target, f"has no callable {factory!r}")
    with _user_code(target, f"in {factory}()"):
        model = fn()
    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(target, f"{factory}() returned {type(model).__name__}, not nn.Module")
    return model


@contextmanager
def _user_code(target: str, when: str) -> Iterator[None]:
    """An exception raised by the user's own code, as one line naming where (see --debug)."""
    try:
        yield
    except Exception as exc:  # whatever the user's code raises
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise ModelLoadError(target, f"raised {type(exc).__name__} {when}: {exc} "
                                     f"({Path(frame.filename).name}, line {frame.lineno}; "
                                     "--debug shows the traceback)") from exc


def _load_state_dict(module: torch.nn.Module, weights: Path) -> None:
    try:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled code with UnpicklingError
        raise ModelLoadError(weights, f"not a plain state_dict, refused to unpickle "
                                      f"({_unpickling_reason(exc)}); parity loads weights with "
                                      "torch.load(weights_only=True) and never runs their code"
                             ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadError(weights, f"holds a {type(state).__name__}, expected a state_dict")
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelLoadError(weights, f"does not fit the model ({_fit_reason(exc)})") from None


def _unpickling_reason(exc: Exception) -> str:
    """What ``torch.load(weights_only=True)`` refused, without its advice to load unsafely."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).split())
    match = re.search(r"WeightsUnpickler error: (.+?)(?: Please use| Check the documentation|$)",
                      text)
    return match[1].rstrip(". ") if match else error_line(exc)


def _fit_reason(exc: Exception) -> str:
    """``load_state_dict``'s complaint on one line (missing and unexpected keys, shortened)."""
    lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    text = " ".join(lines) or error_line(exc)
    return text if len(text) <= 300 else text[:300] + "..."

