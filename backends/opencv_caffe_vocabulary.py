"""Caffe layers in the neutral vocabulary (fields as parity's prototxt reader reports
them; Caffe averages over padded windows, counting the padding)."""

from __future__ import annotations

from parity.diagnose.vocabulary.words import OpWords, Vocabulary

_WINDOW = {"kernel": ("kernel", "ints"), "stride": ("stride", "ints"),
           "pad": ("pads", "symmetric_pads"), "dilation": ("dilation", "ints")}

_OPS: dict[str, OpWords] = {
    "relu": OpWords(fixed={"activation": "leaky_relu"},
                    attrs={"negative_slope": ("slope", "float")}, defaults={"slope": 0.0},
                    spelled={"slope": "negative_slope"}, block="relu_param"),
    "relu6": OpWords(fixed={"activation": "relu6"}),
    "clip": OpWords(fixed={"activation": "clip"},
                    attrs={"min": ("clip_min", "float"), "max": ("clip_max", "float")},
                    block="clip_param"),
    "prelu": OpWords(fixed={"activation": "prelu"}),
    "elu": OpWords(fixed={"activation": "elu"}, attrs={"alpha": ("alpha", "float")},
                   defaults={"alpha": 1.0}, block="elu_param"),
    "sigmoid": OpWords(fixed={"activation": "sigmoid"}),
    "tanh": OpWords(fixed={"activation": "tanh"}),
    "convolution": OpWords(attrs={**_WINDOW, "group": ("groups", "int")},
                           spelled={"kernel": "kernel_size", "pads": "pad", "groups": "group"},
                           block="convolution_param"),
    "pooling": OpWords(attrs={**_WINDOW, "ceil_mode": ("ceil_mode", "bool")},
                       values={"pool": {"max": {"pool": "max"},
                                        "ave": {"pool": "avg", "count_include_pad": True}}},
                       spelled={"kernel": "kernel_size", "pads": "pad",
                                "ceil_mode": "round_mode"}, block="pooling_param"),
    "batchnorm": OpWords(fixed={"norm": "batch"}, attrs={"eps": ("eps", "float")},
                         defaults={"eps": 1e-5}, block="batch_norm_param"),
    "softmax": OpWords(attrs={"axis": ("axis", "int")}, defaults={"axis": 1},
                       block="softmax_param"),
    "concat": OpWords(attrs={"axis": ("axis", "int")}, block="concat_param"),
    "interp": OpWords(fixed={"resize_mode": "bilinear", "coordinates": "align_corners"}),
}


def _advice(node: str, scope: str, words: OpWords | None, spelled: str, value: str,
           file: str) -> str:
    """How to change one field of a Caffe layer."""
    block = words.block if words is not None and words.block else "its *_param"
    return f"set `{spelled}: {value}` in the {block} of layer `{node}` in {file}"


VOCABULARY = Vocabulary(_OPS, _advice)
