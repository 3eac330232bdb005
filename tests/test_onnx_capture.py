"""The ONNX Runtime capture: weights detached once, one all-outputs session, real numbers."""

from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from parity.api import open_model  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SMALLCNN = FIXTURES / "smallcnn.onnx"


@pytest.fixture(scope="module")
def backend():
    with open_model(SMALLCNN) as opened:
        yield opened


@pytest.fixture(scope="module")
def feeds(backend):
    spec = backend.graph.inputs[0]
    shape = [d or 1 for d in spec.shape]
    return {spec.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}


def test_weights_are_detached_from_the_proto_shape_inference_runs_on(backend):
    on_disk = SMALLCNN.stat().st_size
    assert backend.model.ByteSize() < on_disk / 4  # small BatchNorm vectors stay inline
    assert sum(a.nbytes for a in backend._weights.values()) > on_disk * 0.8
    assert all(node.shape for node in backend.graph)  # shapes still inferred


def test_capture_matches_a_plain_session_and_builds_one_session(backend, feeds):
    names = [node.name for node in backend.graph]
    everything = backend.run(feeds, names)
    session = backend._capture
    final = backend.graph.outputs[0]
    plain = ort.InferenceSession(str(SMALLCNN), providers=["CPUExecutionProvider"])
    expected = plain.run(None, feeds)[0]
    np.testing.assert_allclose(everything[final], expected, rtol=1e-4, atol=1e-5)
    some = backend.run(feeds, names[::3])
    assert backend._capture is session  # a different fetch list reuses the session
    for name in names[::3]:
        np.testing.assert_array_equal(some[name], everything[name])


def test_parameters_come_from_the_detached_arrays(backend):
    conv = next(node.name for node in backend.graph if node.op == "Conv")
    weight = backend.parameters(conv)["weight"]
    initializer = next(t for t in onnx.load(str(SMALLCNN)).graph.initializer
                       if t.dims == list(weight.shape))
    assert weight.dtype == np.float64 and weight.ndim == 4
    assert initializer.name in backend._weights
