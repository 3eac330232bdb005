"""MXNet adapter: ``prefix-symbol.json`` + ``prefix-NNNN.params``, run by MXNet's executor.

Every requested node's output is taken from ``symbol.get_internals()`` and grouped into
one symbol, so a single bound executor yields them all in one inference forward pass.
"""

from __future__ import annotations

import os

# MXNet's default oneDNN subgraph pass fuses Conv+BN+ReLU and hides the intermediates.
os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE")

import glob  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator, Mapping, Sequence  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

if "bool" not in vars(np):
    np.bool = bool  # mxnet 1.9.1 still uses the alias numpy 1.24 removed

import mxnet as mx  # noqa: E402

from parity.backend import Backend  # noqa: E402
from parity.errors import InputError, ModelLoadError, UsageError  # noqa: E402
from parity.graph import Graph  # noqa: E402
from parity.symbol_json import param_name, read_symbol  # noqa: E402

SYMBOL_SUFFIX = "-symbol.json"
_PARAMS_NAME = re.compile(r"^(?P<prefix>.+)-(?P<epoch>\d+)\.params$")


class MXNetBackend(Backend):
    """Runs an MXNet symbol with its parameters on the CPU, in inference mode.

    Options: ``epoch`` picks ``prefix-<epoch>.params`` (default: the newest present).
    The model may also be given as the ``.params`` file; its symbol is found next to it.
    """

    name = "mxnet"
    extra = "mxnet"

    def __init__(self, path: Path, weights: Path | None = None, **options: Any) -> None:
        super().__init__(path, weights, **options)
        explicit = Path(weights) if weights is not None else None
        self.symbol_path, self.params_path = locate_files(self.path, explicit,
                                                          options.get("epoch"))
        self.weights = self.params_path
        self.params = _load_params(self.params_path)
        self.symbol_file = read_symbol(self.symbol_path, self.params)
        self._check_params()
        self.symbol = _load_symbol(self.symbol_path)
        self._outputs = frozenset(self.symbol.get_internals().list_outputs())
        self._executors: dict[tuple[Any, ...], mx.executor.Executor] = {}

    def _check_params(self) -> None:
        missing = [n for n in self.symbol_file.param_names if n not in self.params]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise ModelLoadError(self.params_path, f"lacks parameters that "
                                 f"{self.symbol_path.name} reads: {', '.join(missing[:5])}{more}")

    def _load_graph(self) -> Graph:
        return self.symbol_file.graph

    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> dict[str, Any]:
        shapes = {name: tuple(array.shape) for name, array in feeds.items()}
        executor = self._executor(tuple(fetch), shapes)
        for name, array in feeds.items():
            if name in executor.arg_dict:
                executor.arg_dict[name][:] = array
        outputs = executor.forward(is_train=False)
        return dict(zip(fetch, _to_numpy(outputs)))

    def _executor(self, fetch: tuple[str, ...],
                  shapes: dict[str, tuple[int, ...]]) -> mx.executor.Executor:
        """The executor bound for ``fetch`` at ``shapes``; only the latest one is kept."""
        key = (fetch, tuple(sorted(shapes.items())))
        if key not in self._executors:
            self._executors = {key: self._bind(fetch, shapes)}
        return self._executors[key]

    def _bind(self, fetch: tuple[str, ...],
              shapes: dict[str, tuple[int, ...]]) -> mx.executor.Executor:
        internals = self.symbol.get_internals()
        group = mx.sym.Group([internals[self._output_of(name)] for name in fetch])
        arguments = set(group.list_arguments())
        try:
            with _quiet_stderr():
                executor = group.simple_bind(
                    mx.cpu(), grad_req="null",
                    **{name: shape for name, shape in shapes.items() if name in arguments})
        except (mx.base.MXNetError, RuntimeError) as exc:
            raise InputError(f"{self.path}: MXNet cannot run input shapes {shapes} "
                             f"({_reason(exc)})") from None
        self._set_params(executor, shapes)
        return executor

    def _output_of(self, node: str) -> str:
        """MXNet's name for a node's output: ``conv_output``, ``slice_output0``, and for a
        split's piece ``split:2`` ``split_output2``."""
        op, _, piece = node.rpartition(":")
        if op and piece.isdigit() and f"{op}_output{piece}" in self._outputs:
            return f"{op}_output{piece}"
        for candidate in (f"{node}_output", f"{node}_output0"):
            if candidate in self._outputs:
                return candidate
        raise ModelLoadError(self.symbol_path, f"MXNet lists no output for node {node!r}")

    def _set_params(self, executor: mx.executor.Executor,
                    shapes: dict[str, tuple[int, ...]]) -> None:
        """Copy the parameters in; labels (``softmax_label``) read zeros."""
        for name, array in {**executor.arg_dict, **executor.aux_dict}.items():
            if name in shapes:
                continue
            value = self.params.get(name)
            if value is None:
                array[:] = 0
            elif value.shape != array.shape:
                raise InputError(
                    f"{self.params_path}: parameter {name!r} has shape {value.shape} but input "
                    f"shapes {shapes} make the symbol want {array.shape}")
            else:
                array[:] = value

    def parameters(self, node: str) -> dict[str, np.ndarray]:
        """The node's arrays from the .params file, keyed as :meth:`Backend.parameters`.

        A BatchNorm with ``fix_gamma`` (MXNet's default) reports the gamma it computes
        with, ones, not the stored array.
        """
        spec = self.graph.node(node)
        op = spec.op
        found = {}
        for name in self.symbol_file.params_of(node):
            key = next((k for suffix, k in _PARAM_SUFFIXES if name.endswith(suffix)), None)
            if key == "gamma" and op == "LeakyReLU":
                key = "slope"
            if key and name in self.params:
                found[key] = self.params[name].asnumpy()
        if spec.attrs.get("fix_gamma") and "gamma" in found:
            found["gamma"] = np.ones_like(found["gamma"])
        return found

    def release(self) -> None:
        """Drop the bound executor (its copy of the weights and every intermediate buffer);
        the parameters stay loaded and a later run binds again."""
        self._executors.clear()

    def close(self) -> None:
        self.release()


_PARAM_SUFFIXES = (("_moving_mean", "mean"), ("_moving_var", "var"), ("_weight", "weight"),
                   ("_bias", "bias"), ("_gamma", "gamma"), ("_beta", "beta"))


def locate_files(path: Path, weights: Path | None, epoch: object = None) -> tuple[Path, Path]:
    """``(symbol file, params file)`` for a model given as either file.

    An explicit ``weights`` path wins; else a ``.params`` model is its own weights; else
    ``prefix-<epoch>.params`` next to the symbol (the newest epoch when ``epoch`` is None).
    """
    if path.suffix.lower() == ".params":
        return symbol_next_to(path), weights or path
    return path, weights or find_params(path, epoch)


def symbol_next_to(params: Path) -> Path:
    """``prefix-symbol.json`` for ``prefix-NNNN.params``."""
    match = _PARAMS_NAME.match(params.name)
    symbol = params.with_name((match["prefix"] if match else params.stem) + SYMBOL_SUFFIX)
    if not symbol.is_file():
        raise ModelLoadError(params, f"no symbol file next to it: looked for {symbol.name}")
    return symbol


def find_params(symbol: Path, epoch: object = None) -> Path:
    """``prefix-<epoch>.params`` next to ``symbol``; the newest epoch when ``epoch`` is None."""
    prefix = _prefix_of(symbol)
    if epoch is not None:
        wanted = symbol.with_name(f"{prefix}-{_epoch_number(epoch):04d}.params")
        if not wanted.is_file():
            raise ModelLoadError(symbol, f"no weights for epoch {epoch}: {wanted.name} not found")
        return wanted
    found = {}
    for candidate in symbol.parent.glob(f"{glob.escape(prefix)}-*.params"):
        match = _PARAMS_NAME.match(candidate.name)
        if match and match["prefix"] == prefix:
            found[int(match["epoch"])] = candidate
    if not found:
        raise ModelLoadError(symbol, f"no weights found: looked for {prefix}-NNNN.params "
                                     "next to it (or pass the weights file explicitly)")
    return found[max(found)]


def _prefix_of(symbol: Path) -> str:
    """``model`` for ``model-symbol.json``; the stem for any other name."""
    if symbol.name.endswith(SYMBOL_SUFFIX):
        return symbol.name.removesuffix(SYMBOL_SUFFIX)
    return symbol.stem


def _epoch_number(epoch: object) -> int:
    try:
        number = int(str(epoch))
    except ValueError:
        raise UsageError(f"epoch must be a whole number, got {epoch!r}") from None
    if number < 0:
        raise UsageError(f"epoch must not be negative, got {number}")
    return number


def _load_params(path: Path) -> dict[str, mx.nd.NDArray]:
    """The arrays of a ``.params`` file by name, without ``arg:``/``aux:`` prefixes."""
    try:
        loaded = mx.nd.load(str(path))
    except mx.base.MXNetError as exc:
        raise ModelLoadError(path, f"not a readable MXNet params file ({_reason(exc)})") from None
    if not isinstance(loaded, dict):
        raise ModelLoadError(path, "holds unnamed arrays; expected the named arrays "
                                   "that save_checkpoint writes")
    return {param_name(name): array for name, array in loaded.items()}


def _load_symbol(path: Path) -> mx.sym.Symbol:
    try:
        return mx.sym.load(str(path))
    except mx.base.MXNetError as exc:
        raise ModelLoadError(path, f"MXNet cannot load the symbol ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    """The informative line of an MXNet error (its message ends with the check that failed)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    checks = [line for line in lines if "Error" in line or "Check failed" in line]
    return (checks or lines or [type(exc).__name__])[-1]


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Hide MXNet's C++ log line ("subgraph backend is not in use") printed at every bind."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _to_numpy(outputs: Sequence[mx.nd.NDArray]) -> list[np.ndarray]:
    """Each output as a numpy array; the large ones on worker threads.

    ``asnumpy`` reorders an output oneDNN left in a blocked layout back to NCHW, one thread
    and about 10 ns a value (8 ms for a 64x112x112 stem tensor, against 0.6 ms to copy the
    same array in NCHW); it releases the GIL, so threads overlap the large reorders (the
    capture-all run of ResNet-18 at 224: 104-110 -> 89-96 ms on 2 cores). Small outputs
    stay on the calling thread: handed off, MobileFaceNet's ran 9.6 -> 14.2 ms.
    """
    workers = min(4, os.cpu_count() or 1,
                  sum(output.size >= _THREADED_SIZE for output in outputs))
    if workers < 2:
        return [output.asnumpy() for output in outputs]
    with ThreadPoolExecutor(workers) as pool:
        large = [pool.submit(output.asnumpy) if output.size >= _THREADED_SIZE else None
                 for output in outputs]
        small = [None if future else output.asnumpy() for future, output in zip(large, outputs)]
        return [future.result() if future else array for future, array in zip(large, small)]


_THREADED_SIZE = 1 << 18  # values: a reorder of this size takes about 2.5 ms
