"""One model's run state at a time: with one input, ``compare`` lets each side's session
(ONNX Runtime) or module (TorchScript) go once its outputs are out, so the other model runs
without it beside; whatever needs it later loads it again, with the same numbers."""

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from parity.api import compare, open_model  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_torchscript_module_goes_after_its_run_and_comes_back_for_parameters():
    a, b = open_model(FIXTURES / "smallcnn.pt"), open_model(FIXTURES / "smallcnn.onnx")
    conv = next(node.name for node in a.graph if "weight" in a.parameters(node.name))
    weight = a.parameters(conv)["weight"]
    module = weakref.ref(a._held.module)
    report = compare(a, b, input_shape=(1, 3, 32, 32), atol=1e-4, rtol=1e-4)
    gc.collect()
    assert report.ok and len(report.pairs) > 10
    assert module() is None and a._held is None and b._capture is None
    np.testing.assert_array_equal(a.parameters(conv)["weight"], weight)  # loaded again
    again = compare(a, b, input_shape=(1, 3, 32, 32), atol=1e-4, rtol=1e-4)
    assert [p.metrics.max_abs for p in again.pairs] == [p.metrics.max_abs for p in report.pairs]


def test_the_module_is_freed_when_let_go_not_when_the_collector_runs():
    """No reference cycle holds the capture: B runs without A's weights beside it
    whenever the collector happens to run (ResNet-50's compare peak: 714 -> 674 MiB)."""
    a = open_model(FIXTURES / "smallcnn.pt")
    module = weakref.ref(a._held.module)
    a.release_after_next_run()
    gc.disable()
    try:
        a.run({a.graph.inputs[0].name: np.zeros((1, 3, 32, 32), np.float32)},
              [node.name for node in a.graph])
        assert module() is None
    finally:
        gc.enable()


def test_several_inputs_keep_the_run_state():
    """Each input would otherwise build it again."""
    a, b = open_model(FIXTURES / "smallcnn.pt"), open_model(FIXTURES / "smallcnn.onnx")
    compare(a, b, input_shape=(1, 3, 32, 32), samples=2, atol=1e-4, rtol=1e-4)
    assert a._held is not None and b._capture is not None


def test_mxnet_executor_and_opencv_net_go_after_their_run_and_come_back():
    """MobileFaceNet MXNet vs Caffe: the executor (weights copied in, every intermediate)
    and the OpenCV net are dropped once their outputs are out; parameters read them again."""
    folder = FIXTURES / "mobilefacenet"
    a, b = open_model(folder / "model-symbol.json"), open_model(folder / "model_fixed.prototxt")
    report = compare(a, b, image=FIXTURES / "face.jpg")
    assert report.ok and not a._executors and b._net is None
    conv = next(node.name for node in b.graph if node.op == "Convolution")
    assert b.parameters(conv)["weight"].ndim == 4  # the net read again
    again = compare(a, b, image=FIXTURES / "face.jpg")
    assert [p.metrics.max_abs for p in again.pairs] == [p.metrics.max_abs for p in report.pairs]


@pytest.mark.parametrize("spec", ["smallcnn.pt", "smallcnn.onnx", "smallcnn.py:build"])
def test_a_run_leaves_no_reference_cycles(spec):
    """TorchScript, ONNX Runtime and torch.fx captures free everything a run made by
    reference count, so nothing waits for the collector. (Keras' own forward does leave
    cycles, about 1,300 objects a call of a plain ``model(x)``.)"""
    model = open_model(FIXTURES / spec)
    feeds = {model.graph.inputs[0].name: np.zeros((1, 3, 32, 32), np.float32)}
    names = [node.name for node in model.graph]
    model.run(feeds, names)
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            assert len(model.run(feeds, names)) == len(names)
        assert gc.collect() == 0
    finally:
        gc.enable()
