"""The op relation: explicit pairs of families, not closed transitively."""

import pytest

from parity.ops import compatible, family, op_class


@pytest.mark.parametrize("a, b", [
    ("Relu", "aten::relu"), ("Activation", "Relu"), ("Activation", "Sigmoid"),
    ("Pooling", "MaxPool"), ("Pooling", "AveragePool"), ("Eltwise", "Add"), ("Eltwise", "Mul"),
    ("BatchNorm", "Scale"), ("PRelu", "Relu"), ("aten::layer_norm", "LayerNormalization"),
    ("aten::permute", "Transpose"), ("aten::embedding", "Gather"), ("aten::linear", "MatMul"),
    ("aten::to", "Cast"), ("aten::_to_copy", "Cast"), ("aten::__and__", "And"),
    ("aten::bitwise_and", "And"), ("aten::index", "GatherND"), ("aten::addmm", "Gemm"),
])
def test_compatible_pairs(a, b):
    assert compatible(a, b) and compatible(b, a)


@pytest.mark.parametrize("a, b", [
    ("Add", "Mul"), ("Relu", "Sigmoid"), ("MaxPool", "AveragePool"), ("Tanh", "Relu"),
    ("Sigmoid", "PRelu"), ("BatchNormalization", "LayerNormalization"), ("Conv", "MatMul"),
])
def test_no_transitive_closure(a, b):
    assert not compatible(a, b) and not compatible(b, a)


def test_a_caffe_scale_is_part_of_a_batchnorm_for_diagnosis():
    assert op_class("Scale") == op_class("BatchNormalization") == family("aten::batch_norm")
    assert op_class("Relu") != op_class("Sigmoid")
