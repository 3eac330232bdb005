"""OpenVINO opset operations in the neutral vocabulary (attributes as the openvino
backend reports them: ``strides`` -> ``stride``, ``dilations`` -> ``dilation``,
``epsilon`` -> ``eps``, ``pads_begin`` + ``pads_end`` -> ``pad``, ``rounding_type`` ->
``ceil_mode``)."""

from __future__ import annotations

from parity.diagnose.vocabulary.words import OpWords, Vocabulary

_WINDOW = {"kernel": ("kernel", "ints"), "stride": ("stride", "ints"),
           "dilation": ("dilation", "ints"), "pad": ("pads", "begin_end_pads"),
           "ceil_mode": ("ceil_mode", "bool")}
_SPELLED = {"stride": "strides", "dilation": "dilations", "pads": "pads_begin/pads_end",
            "ceil_mode": "rounding_type", "eps": "epsilon", "groups": "group"}


def _act(kind: str, **defaults: object) -> OpWords:
    return OpWords(fixed={"activation": kind}, defaults=defaults)


_CONV = OpWords(attrs={**_WINDOW, "group": ("groups", "int")}, spelled=_SPELLED)
_REDUCE = OpWords(attrs={"keep_dims": ("keepdims", "bool")}, spelled={"keepdims": "keep_dims"})

_OPS: dict[str, OpWords] = {
    "relu": _act("relu"),
    "clamp": OpWords(fixed={"activation": "clip"},
                     attrs={"min": ("clip_min", "float"), "max": ("clip_max", "float")}),
    "prelu": _act("prelu"),
    "elu": OpWords(fixed={"activation": "elu"}, attrs={"alpha": ("alpha", "float")}),
    "gelu": OpWords(fixed={"activation": "gelu"},
                    values={"approximation_mode": {"erf": {"approximation": "none"},
                                                   "tanh": {"approximation": "tanh"}}},
                    defaults={"approximation": "none"},
                    spelled={"approximation": "approximation_mode"}),
    "hswish": _act("hardswish"), "hsigmoid": _act("hardsigmoid", alpha=1 / 6, beta=0.5),
    "swish": _act("silu"), "sigmoid": _act("sigmoid"), "tanh": _act("tanh"),
    "softplus": _act("softplus"), "mish": _act("mish"),
    "convolution": _CONV, "groupconvolution": _CONV,
    "maxpool": OpWords(fixed={"pool": "max"}, attrs=_WINDOW, spelled=_SPELLED),
    "avgpool": OpWords(fixed={"pool": "avg"},
                       attrs=_WINDOW, spelled=_SPELLED,
                       values={"exclude-pad": {"true": {"count_include_pad": False},
                                               "false": {"count_include_pad": True}}}),
    "batchnorminference": OpWords(fixed={"norm": "batch"}, attrs={"eps": ("eps", "float")},
                                  spelled=_SPELLED),
    "softmax": OpWords(attrs={"axis": ("axis", "int")}),
    "concat": OpWords(attrs={"axis": ("axis", "int")}),
    "interpolate": OpWords(attrs={"mode": ("resize_mode", "lower"),
                                  "coordinate_transformation_mode": ("coordinates", "lower")},
                           values={"mode": {"linear": {"resize_mode": "bilinear"},
                                            "linear_onnx": {"resize_mode": "bilinear"}}}),
    "reducemean": _REDUCE, "reducesum": _REDUCE, "reducemax": _REDUCE,
}


def _advice(node: str, scope: str, words: OpWords | None, spelled: str, value: str,
            file: str) -> str:
    """How to change one attribute of an OpenVINO operation."""
    return (f"set `{spelled}` of `{node}` to {value} in {file} (or convert again from a "
            f"source with the right setting)")


VOCABULARY = Vocabulary(_OPS, _advice)
