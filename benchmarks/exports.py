"""ResNet-50 (``benchmarks/resnet50.py``) written in the forms the benchmarks compare, each
kept in a work folder and written only when not there yet."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from resnet50 import INPUT_SHAPE, build

FORMS = {
    "trace": ".pt",  # torch.jit.trace
    "folded": ".onnx",  # TorchScript exporter (dynamo=False), BatchNorm folded into Conv
    "kept": "_kept.onnx",  # same, BatchNorm kept (training=PRESERVE)
    "dynamo": "_dynamo.onnx",  # torch.onnx.export's default exporter
    "pt2": ".pt2",  # torch.export program
}


def resnet50_files(work: Path, *forms: str, shape: tuple[int, ...] | None = None
                   ) -> list[Path]:
    """The paths of ``forms`` (keys of :data:`FORMS`) in ``work``, exported for ``shape``
    (default the model's 224x224 input) where missing."""
    shape = shape or INPUT_SHAPE
    stem = "resnet50" if shape == INPUT_SHAPE else f"resnet50_{shape[-1]}"
    paths = [work / f"{stem}{FORMS[form]}" for form in forms]
    missing = [(form, path) for form, path in zip(forms, paths) if not path.exists()]
    if missing:
        work.mkdir(parents=True, exist_ok=True)
        model, x = build(), torch.randn(shape)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            for form, path in missing:
                _export(form, model, x, path)
    return paths


def _export(form: str, model: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    if form == "trace":
        torch.jit.trace(model, x).save(str(path))
    elif form == "pt2":
        torch.export.save(torch.export.export(model, (x,)), str(path))
    else:
        extra = {"training": torch.onnx.TrainingMode.PRESERVE} if form == "kept" else {}
        torch.onnx.export(model, (x,), str(path), dynamo=form == "dynamo", input_names=["x"],
                          **extra)
