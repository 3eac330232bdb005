"""Per-side image pipelines and their defaults."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FIXTURES
from parity.config import preprocessing_options
from parity.errors import UsageError
from parity.graph import Graph, Node, TensorSpec
from parity.normalization import leading_affine
from parity.preprocess import NHWC, Pipeline, pipelines

cv2 = pytest.importorskip("cv2", reason="--image needs parity[caffe] (OpenCV)")


def mxnet_like() -> Graph:
    return Graph((
        Node("_minusscalar0", "_minus_scalar", ("data",), {"scalar": 127.5}),
        Node("_mulscalar0", "_mul_scalar", ("_minusscalar0",), {"scalar": 0.0078125}),
        Node("conv", "Convolution", ("_mulscalar0",)),
    ), (TensorSpec("data", None),), source="m-symbol.json")


def caffe_like(shape=(1, 3, 112, 112)) -> Graph:
    return Graph((Node("conv", "Convolution", ("data",)),), (TensorSpec("data", shape),),
                 source="m.prototxt")


def test_leading_affine_of_in_graph_normalisation():
    affine = leading_affine(mxnet_like(), "data")
    assert affine.nodes == ("_minusscalar0", "_mulscalar0")
    assert affine.mean == pytest.approx(127.5) and affine.scale == pytest.approx(0.0078125)
    assert leading_affine(caffe_like(), "data") is None


def test_side_without_in_graph_normalisation_gets_it_outside():
    pipe_a, pipe_b = pipelines("mxnet", mxnet_like(), "caffe", caffe_like(), {}, {})
    assert (pipe_a.rgb, pipe_a.mean, pipe_a.scale) == (True, (0.0,), 1.0)
    assert (pipe_b.rgb, pipe_b.mean, pipe_b.scale) == (True, (127.5,), 0.0078125)
    assert pipe_a.size == pipe_b.size == (112, 112)  # A's size comes from B's input shape
    assert "_minusscalar0 -> _mulscalar0" in pipe_b.describe()


def test_the_side_without_normalisation_gets_it_outside_in_either_order():
    pipe_a, pipe_b = pipelines("caffe", caffe_like(), "mxnet", mxnet_like(), {}, {})
    assert (pipe_a.mean, pipe_a.scale) == ((127.5,), 0.0078125)
    assert "plus B's in-graph _minusscalar0 -> _mulscalar0" in pipe_a.describe()
    assert (pipe_b.mean, pipe_b.scale) == ((0.0,), 1.0)  # MXNet normalises inside itself
    assert pipe_b.rgb == pipe_a.rgb


def test_user_options_win():
    _, pipe_b = pipelines("mxnet", mxnet_like(), "caffe", caffe_like(), {},
                          {"rgb": False, "mean": (1.0, 2.0, 3.0)})
    assert pipe_b.rgb is False and pipe_b.mean == (1.0, 2.0, 3.0)
    assert "as given" in pipe_b.describe()


def test_nhwc_input_is_detected():
    pipe_a, _ = pipelines("onnxrt", caffe_like((1, 64, 64, 3)), "caffe", caffe_like(), {}, {})
    assert pipe_a.layout == NHWC and pipe_a.size == (64, 64)


def test_pipeline_apply():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 10  # blue
    bgr[..., 2] = 200  # red
    out = Pipeline(rgb=True, mean=(100.0,), scale=0.5).apply(bgr)
    assert out.shape == (1, 3, 2, 2) and out.dtype == np.float32
    assert out[0, 0, 0, 0] == pytest.approx((200 - 100) * 0.5)  # R first
    assert out[0, 2, 0, 0] == pytest.approx((10 - 100) * 0.5)
    nhwc = Pipeline(rgb=False, layout=NHWC, size=(4, 4)).apply(bgr)
    assert nhwc.shape == (1, 4, 4, 3) and nhwc[0, 0, 0, 0] == pytest.approx(10)


def test_face_fixture_decodes():
    from parity.preprocess import read_image

    decoded = read_image(FIXTURES / "face.jpg")
    image = decoded.bgr
    assert decoded.note == ""
    assert image.shape == (112, 112, 3) and image.dtype == np.uint8


def test_config_file_and_cli_options(tmp_path):
    path = tmp_path / "parity.toml"
    path.write_text('[a]\nrgb = true\n\n[b]\nmean = [127.5]\nscale = 0.0078125\nsize = "96x96"\n')
    options_a, options_b = preprocessing_options(path, {"b_scale": 0.5, "a_mean": "1,2,3"})
    assert options_a == {"rgb": True, "mean": (1.0, 2.0, 3.0)}
    assert options_b == {"mean": (127.5,), "scale": 0.5, "size": (96, 96)}


@pytest.mark.parametrize(("text", "message"), [
    ("[c]\n", "unknown table"),
    ("[a]\nmeen = 1\n", "unknown key"),
    ("[a]\nlayout = 'CHW'\n", "invalid value"),
    ("[a\n", "not valid TOML"),
])
def test_bad_config_is_a_one_line_error(tmp_path, text, message):
    path = tmp_path / "parity.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        preprocessing_options(path, {})
