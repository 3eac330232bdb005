"""Record of the onnx reference evaluator backend."""

from __future__ import annotations

from parity.backends.onnxrt_record import onnx_record

RECORD = onnx_record(
    name="onnxref", adapter="onnx_reference:OnnxReferenceBackend", extra="onnx",
    framework="onnx", runtime="onnx reference",
    formats=".onnx (onnx.reference.ReferenceEvaluator: slow, exact to the ONNX spec)")
