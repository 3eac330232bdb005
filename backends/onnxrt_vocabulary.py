"""ONNX ops in the neutral vocabulary (attribute names as the onnxrt backend reports them:
``kernel_shape`` -> ``kernel``, ``strides`` -> ``stride``, ``pads`` -> ``pad``,
``dilations`` -> ``dilation``, ``epsilon`` -> ``eps``)."""

from __future__ import annotations

from parity.diagnose.vocabulary.onnx_constants import constant_inputs
from parity.diagnose.vocabulary.words import OpWords, Vocabulary

_WINDOW = {"kernel": ("kernel", "ints"), "stride": ("stride", "ints"),
           "pad": ("pads", "begin_end_pads"), "dilation": ("dilation", "ints"),
           "ceil_mode": ("ceil_mode", "bool")}
_WINDOW_SPELLED = {"kernel": "kernel_shape", "stride": "strides", "pads": "pads",
                   "dilation": "dilations"}
_NORM = {"eps": ("eps", "float")}
_NORM_SPELLED = {"eps": "epsilon"}


def _act(kind: str, **defaults: object) -> OpWords:
    return OpWords(fixed={"activation": kind}, defaults=defaults)


_OPS: dict[str, OpWords] = {
    "relu": _act("relu"),
    "clip": OpWords(fixed={"activation": "clip"},
                    attrs={"min": ("clip_min", "float"), "max": ("clip_max", "float")},
                    inputs={1: ("clip_min", "float"), 2: ("clip_max", "float")},
                    spelled={"clip": "min/max inputs"}),
    "leakyrelu": OpWords(fixed={"activation": "leaky_relu"}, attrs={"alpha": ("slope", "float")},
                         defaults={"slope": 0.01}),
    "prelu": _act("prelu"),
    "elu": OpWords(fixed={"activation": "elu"}, attrs={"alpha": ("alpha", "float")},
                   defaults={"alpha": 1.0}),
    "gelu": OpWords(fixed={"activation": "gelu"},
                    attrs={"approximate": ("approximation", "lower")},
                    defaults={"approximation": "none"}),
    "hardswish": _act("hardswish"),
    "hardsigmoid": OpWords(fixed={"activation": "hardsigmoid"},
                           attrs={"alpha": ("alpha", "float"), "beta": ("beta", "float")},
                           defaults={"alpha": 0.2, "beta": 0.5}),
    "sigmoid": _act("sigmoid"),
    "tanh": _act("tanh"),
    "softplus": _act("softplus"),
    "mish": _act("mish"),
    "conv": OpWords(attrs={**_WINDOW, "group": ("groups", "int")},
                    spelled={**_WINDOW_SPELLED, "groups": "group"}),
    "convtranspose": OpWords(attrs={**_WINDOW, "group": ("groups", "int")},
                             spelled={**_WINDOW_SPELLED, "groups": "group"}),
    "maxpool": OpWords(fixed={"pool": "max"}, attrs=_WINDOW, spelled=_WINDOW_SPELLED,
                       defaults={"ceil_mode": False}),
    "averagepool": OpWords(fixed={"pool": "avg"},
                           attrs={**_WINDOW, "count_include_pad": ("count_include_pad", "bool")},
                           spelled=_WINDOW_SPELLED,
                           defaults={"ceil_mode": False, "count_include_pad": False}),
    "batchnormalization": OpWords(fixed={"norm": "batch"},
                                  attrs={**_NORM, "momentum": ("momentum", "float")},
                                  spelled=_NORM_SPELLED, defaults={"eps": 1e-5}),
    "layernormalization": OpWords(fixed={"norm": "layer"},
                                  attrs={**_NORM, "axis": ("axis", "int")},
                                  spelled=_NORM_SPELLED, defaults={"eps": 1e-5, "axis": -1}),
    "instancenormalization": OpWords(fixed={"norm": "instance"}, attrs=_NORM,
                                     spelled=_NORM_SPELLED, defaults={"eps": 1e-5}),
    "groupnormalization": OpWords(fixed={"norm": "group"}, attrs=_NORM,
                                  spelled=_NORM_SPELLED, defaults={"eps": 1e-5}),
    "resize": OpWords(attrs={"mode": ("resize_mode", "lower"),
                             "coordinate_transformation_mode": ("coordinates", "lower")},
                      inputs={2: ("scales", "float"), 3: ("sizes", "ints")},
                      values={"mode": {"linear": {"resize_mode": "bilinear"}}},
                      defaults={"resize_mode": "nearest", "coordinates": "half_pixel"}),
    "pad": OpWords(attrs={"pads": ("pads", "spatial_pad_op"), "mode": ("pad_mode", "lower")},
                   inputs={1: ("pads", "spatial_pad_op")}, spelled={"pads": "pads input"}),
    "softmax": OpWords(attrs={"axis": ("axis", "int")}, defaults={"axis": -1}),
    "logsoftmax": OpWords(attrs={"axis": ("axis", "int")}, defaults={"axis": -1}),
    "concat": OpWords(attrs={"axis": ("axis", "int")}),
    "reducemean": OpWords(attrs={"axes": ("axes", "ints"), "keepdims": ("keepdims", "bool")},
                          inputs={1: ("axes", "ints")}, defaults={"keepdims": True}),
    "reducesum": OpWords(attrs={"axes": ("axes", "ints"), "keepdims": ("keepdims", "bool")},
                         inputs={1: ("axes", "ints")}, defaults={"keepdims": True}),
    "reducemax": OpWords(attrs={"axes": ("axes", "ints"), "keepdims": ("keepdims", "bool")},
                         inputs={1: ("axes", "ints")}, defaults={"keepdims": True}),
    "transpose": OpWords(attrs={"perm": ("perm", "ints")}),
}


def _advice(node: str, scope: str, words: OpWords | None, spelled: str, value: str,
           file: str) -> str:
    """How to change one attribute of an ONNX node."""
    return (f"set `{spelled}` of node `{node}` to {value} in {file} (or re-export with the "
            f"right setting)")


VOCABULARY = Vocabulary(_OPS, _advice, constant_inputs=constant_inputs)
