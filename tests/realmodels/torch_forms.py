"""Write a torch corpus model in each form parity opens: .pt, .pt2, factory, two ONNX exports,
an OpenVINO IR.

Every writer takes the built model, its example inputs (names -> arrays) and the target
path, and returns the path written.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch

TESTS = Path(__file__).resolve().parents[1]


def _args(example: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(array) for array in example.values())


@contextlib.contextmanager
def quiet():
    """Exporters print progress and warnings; a test log does not need them."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def torchscript(model: torch.nn.Module, example: dict[str, np.ndarray], path: Path) -> Path:
    """``torch.jit.trace`` saved as ``.pt``."""
    with quiet(), torch.no_grad():
        traced = torch.jit.trace(model, _args(example), check_trace=False)
    traced.save(str(path))
    return path


def exported(model: torch.nn.Module, example: dict[str, np.ndarray], path: Path) -> Path:
    """``torch.export.export`` saved as ``.pt2``."""
    with quiet():
        program = torch.export.export(model, _args(example))
    torch.export.save(program, str(path))
    return path


def factory(name: str, size: str, path: Path) -> str:
    """A ``model.py`` whose ``build()`` rebuilds the same seeded model; returns ``path:build``."""
    path.write_text(
        f'"""Factory of the parity corpus model {name!r} ({size})."""\n\n'
        "import sys\n\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n\n"
        "from realmodels.torch_models import build as _build  # noqa: E402\n\n\n"
        "def build():\n"
        f"    return _build({name!r}, {size!r})\n",
        encoding="utf-8",
    )
    return f"{path}:build"


def onnx(model: torch.nn.Module, example: dict[str, np.ndarray], path: Path, *,
         dynamo: bool, training: bool = False) -> Path:
    """``torch.onnx.export``: the TorchScript-based exporter (``dynamo=False``, folds
    BatchNorm into Conv) or the default dynamo exporter. ``training`` exports the model in
    training mode (legacy exporter: BatchNorm with batch statistics, nothing folded)."""
    options: dict = {"opset_version": 17} if not dynamo else {}
    if training:
        model.train()
        options.update(training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    with quiet():
        torch.onnx.export(model, _args(example), str(path), input_names=list(example),
                          output_names=["output"], dynamo=dynamo, **options)
    return path


def openvino(model: torch.nn.Module, example: dict[str, np.ndarray], path: Path) -> Path:
    """``openvino.convert_model`` of the module saved as IR (``.xml`` + ``.bin``) the way a
    user gets it: ``save_model``'s default compresses the weights to float16."""
    import openvino as ov

    tensors = {name: torch.from_numpy(array) for name, array in example.items()}
    with quiet():
        converted = ov.convert_model(model, example_input=tensors if len(tensors) > 1
                                     else next(iter(tensors.values())))
    ov.save_model(converted, str(path))
    return path


def tflite(model: torch.nn.Module, example: dict[str, np.ndarray], path: Path) -> Path:
    """``litert_torch.convert`` of the module (torch.export, then the TFLite flatbuffer),
    fed the example inputs in order."""
    import litert_torch

    with quiet():
        converted = litert_torch.convert(model, tuple(torch.from_numpy(v) for v in
                                                      example.values()))
    converted.export(str(path))
    return path
