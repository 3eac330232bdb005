"""MXNet symbol ops in the neutral vocabulary (attributes as parity's symbol reader
reports them: ``dilate`` -> ``dilation``, ``num_group`` -> ``group``)."""

from __future__ import annotations

from parity.diagnose.vocabulary.words import OpWords, Vocabulary

_WINDOW = {"kernel": ("kernel", "ints"), "stride": ("stride", "ints"),
           "pad": ("pads", "symmetric_pads"), "dilation": ("dilation", "ints")}
_WINDOW_SPELLED = {"pads": "pad", "dilation": "dilate", "groups": "num_group"}
_ACT_TYPES = {"relu": {"activation": "relu"}, "sigmoid": {"activation": "sigmoid"},
              "tanh": {"activation": "tanh"}, "softrelu": {"activation": "softplus"}}
_LEAKY_TYPES = {"leaky": {"activation": "leaky_relu"}, "prelu": {"activation": "prelu"},
                "elu": {"activation": "elu"}, "gelu": {"activation": "gelu",
                                                       "approximation": "none"},
                "selu": {"activation": "selu"}}
_REDUCE = {"axis": ("axes", "ints"), "keepdims": ("keepdims", "bool")}

_OPS: dict[str, OpWords] = {
    "activation": OpWords(values={"act_type": _ACT_TYPES}),
    "leakyrelu": OpWords(values={"act_type": _LEAKY_TYPES},
                         attrs={"slope": ("slope", "float")}),
    "clip": OpWords(fixed={"activation": "clip"},
                    attrs={"a_min": ("clip_min", "float"), "a_max": ("clip_max", "float")}),
    "convolution": OpWords(attrs={**_WINDOW, "group": ("groups", "int")},
                           spelled=_WINDOW_SPELLED),
    "pooling": OpWords(attrs={**_WINDOW, "ceil_mode": ("ceil_mode", "bool"),
                              "count_include_pad": ("count_include_pad", "bool")},
                       values={"pool_type": {"max": {"pool": "max"}, "avg": {"pool": "avg"}}},
                       defaults={"count_include_pad": True},
                       spelled={**_WINDOW_SPELLED, "ceil_mode": "pooling_convention"}),
    "batchnorm": OpWords(fixed={"norm": "batch"},
                         attrs={"eps": ("eps", "float"), "momentum": ("momentum", "float")}),
    "layernorm": OpWords(fixed={"norm": "layer"}, attrs={"eps": ("eps", "float")}),
    "instancenorm": OpWords(fixed={"norm": "instance"}, attrs={"eps": ("eps", "float")}),
    "groupnorm": OpWords(fixed={"norm": "group"}, attrs={"eps": ("eps", "float")},
                         defaults={"eps": 1e-5}),
    "upsampling": OpWords(attrs={"sample_type": ("resize_mode", "lower"),
                                 "scale": ("scales", "float")},
                          defaults={"resize_mode": "nearest", "coordinates": "asymmetric"},
                          spelled={"resize_mode": "sample_type"}),
    "_contrib_bilinearresize2d": OpWords(
        fixed={"resize_mode": "bilinear"}, attrs={"align_corners": ("align_corners", "bool")},
        defaults={"align_corners": True}),
    "softmax": OpWords(attrs={"axis": ("axis", "int")}, defaults={"axis": -1}),
    "log_softmax": OpWords(attrs={"axis": ("axis", "int")}, defaults={"axis": -1}),
    "concat": OpWords(attrs={"dim": ("axis", "int")}, defaults={"axis": 1},
                      spelled={"axis": "dim"}),
    "mean": OpWords(attrs=_REDUCE, defaults={"keepdims": False}),
    "sum": OpWords(attrs=_REDUCE, defaults={"keepdims": False}),
    "transpose": OpWords(attrs={"axes": ("perm", "ints")}, spelled={"perm": "axes"}),
}


def _advice(node: str, scope: str, words: OpWords | None, spelled: str, value: str,
           file: str) -> str:
    """How to change one attribute of an MXNet symbol node."""
    return f"set `{spelled}` of node `{node}` to {value} in {file}"


VOCABULARY = Vocabulary(_OPS, _advice)
