import numpy as np

from parity.graph import Graph, Node, TensorSpec
from parity.layout import layout_of, same_layout


def keras_like() -> Graph:
    return Graph((
        Node("conv", "Conv2D", ("img",), {"layout": "NHWC"}, (1, 4, 5, 3)),
        Node("flat", "Flatten", ("conv",), {}, (1, 60)),
    ), (TensorSpec("img", (None, 4, 5, 2)),))


def torch_like() -> Graph:
    return Graph((
        Node("conv", "Conv", ("x",), {}, (1, 3, 4, 5)),
        Node("flat", "Flatten", ("conv",), {}, (1, 60)),
    ), (TensorSpec("x", (1, 2, 4, 5)),))


def test_layout_of_nodes_and_inputs():
    assert layout_of(keras_like(), "conv") == "NHWC"
    assert layout_of(torch_like(), "conv") == "NCHW"
    assert layout_of(Graph((), (TensorSpec("i", (1, 224, 224, 3)),)), "i") == "NHWC"


def test_channels_last_tensor_and_its_flatten_are_compared_in_nchw():
    nchw = np.arange(60, dtype=np.float32).reshape(1, 3, 4, 5)
    nhwc = nchw.transpose(0, 2, 3, 1)
    va, vb, note = same_layout(keras_like(), torch_like(), "conv", "conv", nhwc, nchw)
    assert note == "+nhwc" and np.array_equal(va, vb)
    flat_a, flat_b, note = same_layout(keras_like(), torch_like(), "flat", "flat",
                                       nhwc.reshape(1, -1), nchw.reshape(1, -1))
    assert note == "+nhwc" and np.array_equal(flat_a, flat_b)


def test_same_layouts_are_left_alone():
    x = np.ones((1, 3, 4, 5))
    assert same_layout(torch_like(), torch_like(), "conv", "conv", x, x)[2] == ""
