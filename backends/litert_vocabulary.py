"""TFLite builtin operators in the neutral vocabulary (builtin options as the tflite
backend reports them: ``stride_h``/``stride_w``, ``kernel_h``/``kernel_w``,
``dilation_h``/``dilation_w``, the fused ``activation`` by name)."""

from __future__ import annotations

from parity.diagnose.vocabulary.words import OpWords, Vocabulary

# A fused activation function (FusedActivationFunction) by name.
_FUSED = {"relu": {"activation": "relu"}, "relu6": {"activation": "relu6"},
          "relu_n1_to_1": {"activation": "clip", "clip_min": -1.0, "clip_max": 1.0},
          "tanh": {"activation": "tanh"}}
_WINDOW = {name: (name, "int") for name in ("stride_h", "stride_w", "dilation_h",
                                            "dilation_w", "kernel_h", "kernel_w")}
_SPELLED = {"stride": "stride_h/stride_w", "dilation": "dilation_h/dilation_w",
            "kernel": "filter_height/filter_width"}


def _act(kind: str, **defaults: object) -> OpWords:
    return OpWords(fixed={"activation": kind}, defaults=defaults)


_CONV = OpWords(attrs=_WINDOW, values={"activation": _FUSED}, spelled=_SPELLED)

_OPS: dict[str, OpWords] = {
    "relu": _act("relu"), "relu6": _act("relu6"),
    "relu_n1_to_1": OpWords(fixed={"activation": "clip", "clip": (-1.0, 1.0)}),
    "leaky_relu": _act("leaky_relu"), "prelu": _act("prelu"), "elu": _act("elu", alpha=1.0),
    "hard_swish": _act("hardswish"), "logistic": _act("sigmoid"), "tanh": _act("tanh"),
    "gelu": _act("gelu"),
    "conv_2d": _CONV, "depthwise_conv_2d": _CONV, "transpose_conv": _CONV,
    "fully_connected": OpWords(values={"activation": _FUSED}),
    "add": OpWords(values={"activation": _FUSED}), "mul": OpWords(values={"activation": _FUSED}),
    "max_pool_2d": OpWords(fixed={"pool": "max"}, attrs=_WINDOW, values={"activation": _FUSED},
                           spelled=_SPELLED),
    "average_pool_2d": OpWords(fixed={"pool": "avg"}, attrs=_WINDOW,
                               values={"activation": _FUSED}, spelled=_SPELLED,
                               defaults={"count_include_pad": False}),
    "softmax": OpWords(defaults={"axis": -1}),
    "concatenation": OpWords(attrs={"axis": ("axis", "int")}, values={"activation": _FUSED}),
    "resize_bilinear": OpWords(fixed={"resize_mode": "bilinear"}),
    "resize_nearest_neighbor": OpWords(fixed={"resize_mode": "nearest"}),
}


def _advice(node: str, scope: str, words: OpWords | None, spelled: str, value: str,
            file: str) -> str:
    """How to change one option of a TFLite operator: in the source, then convert again."""
    return (f"convert again so that operator `{node}` has `{spelled}` = {value} (the "
            f"option in {file} comes from the source model)")


VOCABULARY = Vocabulary(_OPS, _advice)
