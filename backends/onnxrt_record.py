"""Record of the ONNX Runtime backend, and the ONNX file checks every ONNX backend shares."""

from __future__ import annotations

from typing import Any

from parity.errors import ModelLoadError
from parity.formats import Probe
from parity.registry import BackendRecord, InputHabit

# The first byte of an ONNX ModelProto: one of its fields' tags (ir_version, opset...).
_ONNX_FIRST_BYTES = (b"\x08", b"\x12", b"\x1a", b"\x3a")


def is_onnx(probe: Probe) -> bool:
    """An ONNX protobuf by its first byte (for files without the ``.onnx`` suffix)."""
    return probe.head[:1] in _ONNX_FIRST_BYTES and not probe.is_zip


def check_onnx(probe: Probe) -> None:
    """Catch a zip archive or a text file named ``.onnx``."""
    text = probe.head.lstrip().startswith((b"{", b"name", b"layer", b"<"))
    if probe.is_zip or text:
        raise ModelLoadError(probe.path, "named .onnx but is not an ONNX protobuf "
                                         f"({'a zip archive' if probe.is_zip else 'a text file'})")


ONNX_HABIT = InputHabit(rgb=True, scale=1 / 255, note="ONNX habit: RGB 0-1")
ONNX_ADVICE = {
    "set_eps": "set the `epsilon` attribute of `{node}` to {eps:g} in {file} "
               "(or re-export with the right eps)",
    "round_up": "set the `ceil_mode` attribute of `{node}` to 1 in {file}",
    "round_down": "set the `ceil_mode` attribute of `{node}` to 0 in {file}",
    "reexport": "then torch.onnx.export(..., training=torch.onnx.TrainingMode.EVAL) "
                "again to rewrite {file}",
}
ONNX_ATTRIBUTES = {"kernel_shape": "kernel", "strides": "stride", "pads": "pad",
                   "dilations": "dilation", "epsilon": "eps"}


def onnx_record(**fields: Any) -> BackendRecord:
    """The record of a backend that runs ``.onnx`` files: ONNX's suffix, file check, input
    habit, advice, attribute names and parameter vocabulary, unless ``fields`` gives its
    own."""
    defaults: dict[str, Any] = {"suffixes": (".onnx",), "check": check_onnx,
                                "habit": ONNX_HABIT, "advice": ONNX_ADVICE,
                                "attribute_names": ONNX_ATTRIBUTES,
                                "vocabulary": "onnxrt_vocabulary"}
    return BackendRecord(**{**defaults, **fields})


RECORD = onnx_record(name="onnxrt", adapter="onnxrt:OnnxRuntimeBackend", extra="onnx",
                     framework="onnxruntime", formats=".onnx (ONNX Runtime, CPU)",
                     sniff=is_onnx)
