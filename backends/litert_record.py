"""Record of the LiteRT (TFLite) backend."""

from __future__ import annotations

from parity.errors import ModelLoadError
from parity.formats import Probe
from parity.registry import BackendRecord, InputHabit


def _is_tflite(probe: Probe) -> bool:
    """A TFLite flatbuffer: the file identifier ``TFL3`` after the root offset."""
    return probe.head[4:8] == b"TFL3"


def _check(probe: Probe) -> None:
    if not _is_tflite(probe):
        raise ModelLoadError(probe.path, "named .tflite but is not a TFLite flatbuffer (no "
                                         f"TFL3 identifier{probe.resemblance()})")


RECORD = BackendRecord(
    name="tflite",
    adapter="litert:LiteRtBackend",
    extra="tflite",
    framework="ai_edge_litert",
    distribution="ai-edge-litert",
    formats=".tflite (LiteRT interpreter, builtin CPU kernels; int8 tensors dequantized)",
    suffixes=(".tflite",),
    sniff=_is_tflite,
    check=_check,
    habit=InputHabit(rgb=True, scale=1 / 255, layout="NHWC", note="TFLite habit: RGB 0-1"),
    advice={
        "set_eps": "give `{node}` eps {eps:g} in the source model and convert it again "
                   "(litert_torch.convert or the TFLite converter) to rewrite {file}",
        "round_up": "build `{node}` with ceil_mode=True in the source model and convert it "
                    "again to rewrite {file}",
        "round_down": "build `{node}` with ceil_mode=False in the source model and convert it "
                      "again to rewrite {file}",
        "reexport": "then convert it again (model.eval() first) to rewrite {file}",
    },
    op_families={"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "conv", "TRANSPOSE_CONV": "conv",
                 "FULLY_CONNECTED": "linear", "BATCH_MATMUL": "linear",
                 "MAX_POOL_2D": "maxpool", "AVERAGE_POOL_2D": "avgpool", "MEAN": "avgpool",
                 "CONCATENATION": "concat", "LOGISTIC": "sigmoid", "RELU6": "relu",
                 "HARD_SWISH": "hardswish", "QUANTIZE": "quantize",
                 "DEQUANTIZE": "dequantize", "GATHER_ND": "gather", "SELECT_V2": "where"},
    runtime="LiteRT",
    vocabulary="litert_vocabulary",
)
