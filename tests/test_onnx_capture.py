"""The ONNX Runtime capture: weights mapped from the file, not parsed; one session exposing
the fetched nodes only, reused for any fetch list it covers; real numbers."""

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


def test_weights_are_views_of_the_mapped_file_equal_to_the_parsed_ones(backend):
    assert backend._mapped is not None
    parsed = {t.name: onnx.numpy_helper.to_array(t)
              for t in onnx.load(str(SMALLCNN)).graph.initializer}
    for name, array in backend._weights.items():
        assert not array.flags.owndata  # a view, not a copy
        np.testing.assert_array_equal(array, parsed[name])


def test_capture_matches_a_plain_session_and_builds_one_session(backend, feeds):
    names = [node.name for node in backend.graph]
    everything = backend.run(feeds, names)
    session = backend._capture
    final = backend.graph.outputs[0]
    plain = ort.InferenceSession(str(SMALLCNN), providers=["CPUExecutionProvider"])
    expected = plain.run(None, feeds)[0]
    np.testing.assert_allclose(everything[final], expected, rtol=1e-4, atol=1e-5)
    some = backend.run(feeds, names[::3])
    assert backend._capture is session  # a fetch list it covers reuses the session
    for name in names[::3]:
        np.testing.assert_array_equal(some[name], everything[name])


def test_the_session_exposes_only_the_fetched_nodes(feeds):
    with open_model(SMALLCNN) as opened:
        names = [node.name for node in opened.graph]
        some = opened.run(feeds, names[:2])
        exposed = [o.name for o in opened._capture[1].get_outputs()]
        assert len(exposed) == 2
        everything = opened.run(feeds, names)  # more nodes: a new session
        assert len(opened._capture[1].get_outputs()) == len(names)
        for name in names[:2]:
            np.testing.assert_array_equal(some[name], everything[name])


def test_a_model_with_external_data_is_read_in_place_and_runs_the_same(tmp_path, feeds):
    """External data is not copied: its weights are views of the data file, which ORT
    reads itself; through a symlink from another folder the model is parsed whole."""
    model = onnx.load(str(SMALLCNN))
    onnx.save_model(model, str(tmp_path / "m.onnx"), save_as_external_data=True,
                    location="m.data", size_threshold=0)
    link = tmp_path / "elsewhere" / "m.onnx"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "m.onnx")
    (link.parent / "m.data").write_bytes((tmp_path / "m.data").read_bytes())
    with open_model(SMALLCNN) as inline, open_model(tmp_path / "m.onnx") as external, \
            open_model(link) as linked:
        assert external._mapped is not None and linked._mapped is None
        assert external._weights and all(isinstance(w, np.memmap)
                                         for w in external._weights.values())
        assert external.model.ByteSize() < SMALLCNN.stat().st_size / 4
        names = [node.name for node in inline.graph]
        for parsed in (external, linked):
            a, b = inline.run(feeds, names), parsed.run(feeds, names)
            for name in names:
                np.testing.assert_array_equal(a[name], b[name])
        conv = next(node.name for node in inline.graph if node.op == "Conv")
        np.testing.assert_array_equal(inline.parameters(conv)["weight"],
                                      external.parameters(conv)["weight"])


def test_parameters_come_from_the_detached_arrays(backend):
    conv = next(node.name for node in backend.graph if node.op == "Conv")
    weight = backend.parameters(conv)["weight"]
    initializer = next(t for t in onnx.load(str(SMALLCNN)).graph.initializer
                       if t.dims == list(weight.shape))
    assert weight.dtype == np.float64 and weight.ndim == 4
    assert initializer.name in backend._weights


def test_weights_are_read_by_onnxruntime_from_the_file_even_through_a_symlink(tmp_path, feeds):
    link = tmp_path / "elsewhere" / "linked.onnx"
    link.parent.mkdir()
    link.symlink_to(SMALLCNN)
    with open_model(SMALLCNN) as direct, open_model(link) as linked:
        names = [node.name for node in direct.graph]
        a, b = direct.run(feeds, names), linked.run(feeds, names)
        for name in names:
            np.testing.assert_array_equal(a[name], b[name])


def test_the_session_can_also_take_every_weight_from_the_arrays(backend, feeds):
    """The route for onnxruntime versions that cannot read a file location for a model
    given as bytes: same numbers."""
    names = [node.name for node in backend.graph]
    session = backend._new_session(backend._with_outputs(backend._tensor_order), in_file=False)
    outputs = [o.name for o in session.get_outputs()]
    values = dict(zip(outputs, session.run(outputs, feeds)))
    expected = backend.run(feeds, names)
    for name in names:
        np.testing.assert_array_equal(values[backend._protos[name].output[0]], expected[name])


def test_the_wire_reader_cuts_exactly_the_weights_and_refuses_damaged_files(tmp_path):
    """The graph parsed without its weights equals the whole model's graph less their
    raw_data; a truncated or corrupted file raises WireFormatError (the caller then parses
    it whole, where onnx names what is wrong), never another error."""
    from parity.backends._onnx_weights import WireFormatError, read_without_weights

    whole = onnx.load(str(SMALLCNN))
    model, mapped = read_without_weights(SMALLCNN, 64)
    assert {t.name for t in model.graph.initializer} == {t.name for t in whole.graph.initializer}
    assert list(model.graph.node) == list(whole.graph.node)
    for tensor in whole.graph.initializer:
        if tensor.name in mapped.arrays:
            np.testing.assert_array_equal(mapped.arrays[tensor.name],
                                          onnx.numpy_helper.to_array(tensor))
    data = SMALLCNN.read_bytes()
    for name, damaged in (("truncated", data[: len(data) // 2]),
                          ("length_past_end", data[:3] + b"\xff\xff\x3f" + data[4:]),
                          ("group_wire_type", b"\x3b" + data[1:])):
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(damaged)
        with pytest.raises(WireFormatError):
            read_without_weights(path, 64)


def test_compare_lets_each_session_go_before_the_other_model_runs(monkeypatch):
    """One input: A's session is dropped once its outputs are out, before B's is built
    (one model's session in memory at a time); the outputs compared are unchanged."""
    from parity.api import compare
    from parity.backends.onnxrt import OnnxRuntimeBackend

    a, b = open_model(SMALLCNN), open_model(FIXTURES / "smallcnn_folded.onnx")
    built = []
    new_session = OnnxRuntimeBackend._new_session

    def tracked(self, model, in_file):
        built.append((self, a._capture is None))
        return new_session(self, model, in_file)

    monkeypatch.setattr(OnnxRuntimeBackend, "_new_session", tracked)
    report = compare(a, b, input_shape=(1, 3, 32, 32))
    assert report.ok and report.pairs
    assert [side for side, _ in built] == [a, b] and built[1][1]
    assert a._capture is None and b._capture is None
    again = compare(a, b, input_shape=(1, 3, 32, 32))  # sessions are built again on use
    assert [p.metrics.max_abs for p in again.pairs] == [p.metrics.max_abs for p in report.pairs]
