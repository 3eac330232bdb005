"""The onnx reference evaluator (``onnx.reference.ReferenceEvaluator``) as a backend.

Slow, plain numpy, written from the ONNX specification: the ground truth for "is ONNX
Runtime right on this op?". The graph is the ONNX Runtime adapter's (same node names,
attributes and parameters); the evaluator gets its own copy of the model with its weights.
One evaluation yields every requested tensor, since the
evaluator keeps each node's outputs until the end of its run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from onnx.reference import ReferenceEvaluator

from parity.backends.onnxrt import OnnxRuntimeBackend, load_model
from parity.errors import ModelLoadError


class OnnxReferenceBackend(OnnxRuntimeBackend):
    """Runs ``.onnx`` files with the onnx package's reference evaluator."""

    name = "onnxref"
    extra = "onnx"

    def __init__(self, path: Path, weights: Path | None = None, **options: Any) -> None:
        super().__init__(path, weights, **options)
        try:
            self.evaluator = ReferenceEvaluator(load_model(self.path))  # with its weights
        except Exception as exc:  # unsupported ops and bad models raise many types
            raise ModelLoadError(self.path, f"the onnx reference evaluator cannot load it "
                                            f"({_one_line(exc)})") from None

    def _run(self, feeds: Mapping[str, np.ndarray], fetch: list[str]) -> dict[str, Any]:
        tensors = [self._outputs[name] for name in fetch]
        typed = {spec.name: np.asarray(feeds[spec.name]).astype(spec.dtype, copy=False)
                 for spec in self.graph.inputs}
        try:
            values = self.evaluator.run(list(dict.fromkeys(tensors)), typed)
        except Exception as exc:  # an op the evaluator lacks, a shape it refuses...
            raise ModelLoadError(self.path, f"the onnx reference evaluator cannot run it "
                                            f"({_one_line(exc)})") from None
        by_tensor = dict(zip(dict.fromkeys(tensors), values))
        return {name: by_tensor[tensor] for name, tensor in zip(fetch, tensors)}


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
