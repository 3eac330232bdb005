"""Record of the onnx reference evaluator backend."""

from __future__ import annotations

from parity.backends.onnxrt_record import ONNX_ADVICE, ONNX_ATTRIBUTES, ONNX_HABIT, check_onnx
from parity.registry import BackendRecord

RECORD = BackendRecord(
    name="onnxref",
    adapter="onnx_reference:OnnxReferenceBackend",
    extra="onnx",
    framework="onnx",
    distribution="onnx",
    formats=".onnx (onnx.reference.ReferenceEvaluator: slow, exact to the ONNX spec)",
    suffixes=(".onnx",),
    check=check_onnx,
    habit=ONNX_HABIT,
    advice=ONNX_ADVICE,
    attribute_names=ONNX_ATTRIBUTES,
    runtime="onnx reference",
    vocabulary="onnxrt_vocabulary",
)
