"""Record of the OpenVINO backend (ONNX and OpenVINO IR on the CPU plugin)."""

from __future__ import annotations

from parity.backends.onnxrt_record import ONNX_HABIT, check_onnx
from parity.errors import ModelLoadError
from parity.formats import Probe
from parity.registry import BackendRecord


def _is_ir(probe: Probe) -> bool:
    """An OpenVINO IR: an XML document whose root is ``<net``."""
    return "<net " in (probe.text or "")[:1024]


def _check(probe: Probe) -> None:
    if probe.suffix == ".onnx":
        check_onnx(probe)
    elif not _is_ir(probe):
        raise ModelLoadError(probe.path, "not an OpenVINO IR (expected an XML <net> document "
                                         "with its .bin beside it)")


RECORD = BackendRecord(
    name="openvino",
    adapter="openvino_model:OpenVinoBackend",
    extra="openvino",
    framework="openvino",
    formats="OpenVINO IR .xml + .bin, and .onnx (CPU plugin, f32)",
    suffixes=(".xml", ".onnx"),
    sniff=_is_ir,
    check=_check,
    habit=ONNX_HABIT,
    advice={
        "set_eps": "give `{node}` epsilon {eps:g} in the source model and convert it again "
                   "(openvino.convert_model, then openvino.save_model to rewrite {file})",
        "round_up": "set rounding_type=\"ceil\" on `{node}` in {file} (or ceil_mode=True in the "
                    "source model, then convert it again)",
        "round_down": "set rounding_type=\"floor\" on `{node}` in {file} (or ceil_mode=False in "
                      "the source model, then convert it again)",
        "reexport": "then openvino.convert_model / openvino.save_model again to rewrite {file}",
    },
    # pads_begin + pads_end become ``pad``, rounding_type becomes ``ceil_mode`` (the adapter)
    attribute_names={"strides": "stride", "dilations": "dilation", "epsilon": "eps"},
    op_families={"GroupConvolution": "conv", "ConvolutionBackpropData": "conv",
                 "GroupConvolutionBackpropData": "conv", "BatchNormInference": "batchnorm",
                 "AvgPool": "avgpool", "Multiply": "mul", "Subtract": "sub",
                 "Swish": "silu", "HSwish": "hardswish", "Power": "pow", "Divide": "div",
                 "Convert": "cast", "Broadcast": "expand", "BitwiseAnd": "and",
                 "LogicalAnd": "and", "NotEqual": "ne", "VariadicSplit": "split",
                 "ScaledDotProductAttention": "attention", "MVN": "layernorm",
                 # torch's select is a gather (ops.FAMILIES), OpenVINO's a where
                 "Select": "where"},
    vocabulary="openvino_model_vocabulary",
)
