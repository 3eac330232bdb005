"""Every bad input of the corpus through the real CLI: a clear one-line error, nothing run.

The corpus (tests/corpus/build_corpus.py) is generated from the fixtures into a temporary
folder. Each case runs in-process through click's CliRunner; a handful also run as a
subprocess of the ``parity`` entry point, to prove exit codes and stderr for real.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from corpus.build_corpus import (
    FACE,
    Case,
    Payload,
    build_corpus,
    caffe_pair,
    case_names,
    external_data_model,
    onnx_model,
    onnx_node,
    write,
)

from parity.cli import cli

if any(find_spec(f) is None for f in ("torch", "onnxruntime", "mxnet", "cv2", "keras")):
    pytest.skip("the corpus needs every framework (parity[all])", allow_module_level=True)

MIN_CASES = 40
# Run for real too; C++ log lines (OpenCV, MXNet) and torch's logged tracebacks reach only
# the process's own stderr, which CliRunner cannot see.
SUBPROCESS_CASES = ("onnx_empty", "onnx_external_data_escapes", "torchscript_pickle_payload",
                    "state_dict_pickle_payload", "pt2_is_torchscript", "caffemodel_random_bytes",
                    "prototxt_unknown_layer_type", "symbol_unknown_op", "onnx_log_of_negative",
                    "torchscript_writes_a_file", "failing_run_keeps_the_earlier_run",
                    "report_json_is_a_pipe", "map_is_a_pipe", "usage_error_is_one_line",
                    "factory_raises", "image_header_over_the_pixel_cap")


class _Summary:
    """Adds the corpus size to pytest's closing summary."""

    def __init__(self, count: int) -> None:
        self.count = count

    def pytest_terminal_summary(self, terminalreporter: object) -> None:
        terminalreporter.write_line(  # type: ignore[attr-defined]
            f"parity bad-input corpus: {self.count} cases through the CLI, "
            f"{len(SUBPROCESS_CASES)} also as a subprocess")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory,
           pytestconfig: pytest.Config) -> dict[str, Case]:
    cases = build_corpus(tmp_path_factory.mktemp("corpus"))
    pytestconfig.pluginmanager.register(_Summary(len(cases)), "parity-corpus-summary")
    return {c.name: c for c in cases}


def test_corpus_has_enough_cases(corpus: dict[str, Case]) -> None:
    assert len(corpus) >= MIN_CASES
    assert len(set(case_names())) == len(corpus)


def _check(case: Case, exit_code: int, stdout: str, stderr: str) -> None:
    """The contract every case must keep, whichever way it ran."""
    where = f"{case.name}: exit {exit_code}\nstdout: {stdout[-2000:]}\nstderr: {stderr}"
    assert exit_code == case.exit_code, where
    assert "Traceback" not in stderr + stdout, where
    if case.exit_code == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("parity: error: "), where
    for word in case.words:
        assert word.lower() in (stderr + stdout).lower(), f"{word!r} missing; {where}"
    for marker in case.markers:
        assert not Path(marker).exists(), f"the file's payload ran; {where}"


def _contents(case: Case) -> dict[str, bytes]:
    """The bytes of the files a case must leave alone."""
    return {path: Path(path).read_bytes() for path in case.kept}


def _check_kept(case: Case, before: dict[str, bytes]) -> None:
    for path, data in before.items():
        assert Path(path).read_bytes() == data, f"{case.name}: {path} was changed"
    leftovers = [p for path in before for p in Path(path).parent.parent.glob("**/.*parity-*")]
    assert not leftovers, f"{case.name}: temporary files left: {leftovers}"


def _invoke(args: tuple[str, ...]) -> Result:
    return CliRunner().invoke(cli, list(args))


# Cases that still misbehave for a reason outside the files this suite may change.
KNOWN_GAPS: dict[str, str] = {}


def _case_params(names: Sequence[str]) -> list[Any]:
    return [pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_GAPS[name], strict=True))
            if name in KNOWN_GAPS else name for name in names]


@pytest.mark.parametrize("name", _case_params(case_names()))
def test_bad_input(name: str, corpus: dict[str, Case]) -> None:
    case = corpus[name]
    before = _contents(case)
    result = _invoke(case.args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    _check(case, result.exit_code, result.stdout, result.stderr)
    _check_kept(case, before)


@pytest.mark.parametrize("name", _case_params(SUBPROCESS_CASES))
def test_bad_input_as_subprocess(name: str, corpus: dict[str, Case]) -> None:
    case = corpus[name]
    before = _contents(case)
    entry_point = Path(sys.executable).with_name("parity")
    done = subprocess.run([str(entry_point), *case.args], capture_output=True, text=True,
                          timeout=120)
    _check(case, done.returncode, done.stdout, done.stderr)
    _check_kept(case, before)


def test_debug_shows_the_traceback(corpus: dict[str, Case]) -> None:
    result = _invoke(("--debug", *corpus["onnx_truncated"].args))
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


# -- the payloads are real: each would have left its marker had it run --------------

def test_pickle_payload_runs_when_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    pickle.loads(pickle.dumps(Payload(marker)))  # noqa: S301 - the control experiment
    assert marker.exists()


def test_lambda_payload_runs_with_trust_code(corpus: dict[str, Case]) -> None:
    from parity.api import open_model

    case = corpus["keras_lambda_layer"]
    open_model(case.args[-1], trust_code=True)
    marker = Path(case.markers[0])
    assert marker.exists()
    marker.unlink()


# -- honesty: nothing reported ok that was not compared ------------------------------

def _json_report(*args: str) -> tuple[int, dict[str, Any]]:
    result = _invoke(("compare", *args, "--format", "json"))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def _tiny(folder: Path, name: str, nodes: list[Any]) -> str:
    return write(folder / name, onnx_model(nodes))


def test_nan_at_the_same_places_on_both_sides_agrees(tmp_path: Path) -> None:
    """A model compared with itself agrees, NaN included; the counts stay in the report."""
    nodes = [onnx_node("Log", ["x"], "log"), onnx_node("Relu", ["log"], "y")]
    sick = _tiny(tmp_path, "sick.onnx", nodes)
    code, report = _json_report(sick, sick)
    assert code == 0 and report["ok"] is True
    log = next(p for p in report["pairs"] if p["a"] == "log")
    assert log["status"] == "ok" and log["nan"][0] == log["nan"][1] > 0


@pytest.mark.parametrize(("a", "b", "ok"), [
    ([np.nan, 1.0], [np.nan, 1.0], True),
    ([np.inf, -np.inf], [np.inf, -np.inf], True),
    ([np.nan, 1.0], [1.0, np.nan], False),
    ([np.inf, 1.0], [-np.inf, 1.0], False),
    ([np.nan, 1.0], [np.inf, 1.0], False),
    ([np.nan, 1.0], [np.nan, 1.5], False),
])
def test_non_finite_values_agree_only_in_place_and_kind(a: list[float], b: list[float],
                                                        ok: bool) -> None:
    from parity.metrics import Tolerance, compare_arrays

    metrics = compare_arrays(np.float32(a), np.float32(b), Tolerance())
    assert metrics.passed is ok


def test_shape_mismatch_is_a_failure_not_a_skip(tmp_path: Path) -> None:
    two = _tiny(tmp_path, "two.onnx", [onnx_node("Concat", ["x", "x"], "y", axis=1)])
    three = _tiny(tmp_path, "three.onnx", [onnx_node("Concat", ["x", "x", "x"], "y", axis=1)])
    code, report = _json_report(two, three)
    assert code == 1 and report["ok"] is False
    assert [p["status"] for p in report["pairs"] if p["op"] == "Concat"] == ["shape_mismatch"]
    assert report["first_divergence"]["status"] == "shape_mismatch"


def test_zero_pairs_is_never_ok() -> None:
    from parity.metrics import Tolerance
    from parity.report import Report, Side

    report = Report(Side("a", "x"), Side("b", "x"), Tolerance(), (), ("n1",), ("m1",), None)
    assert report.ok is False


def test_only_the_inputs_compared_is_not_ok() -> None:
    """Nine of ten nodes unpaired: the passing input pair alone proves nothing."""
    from parity.metrics import Tolerance, compare_arrays
    from parity.report import OK, PairResult, Report, Side

    value = np.zeros((1, 4), np.float32)
    metrics = compare_arrays(value, value, Tolerance())
    pair = PairResult("x", "x", "Input", "input", (1, 4), (1, 4), OK, metrics)
    unpaired = tuple(f"n{i}" for i in range(9))
    report = Report(Side("a", "x"), Side("b", "x"), Tolerance(), (pair,), unpaired, unpaired,
                    None)
    assert report.ok is False


# -- paths a model names stay inside its folder ---------------------------------------

def test_onnx_external_data_inside_the_folder_loads(tmp_path: Path) -> None:
    import onnx

    model = onnx.load_from_string(external_data_model("weights.bin"))
    (tmp_path / "weights.bin").write_bytes(np.full(4, 2.0, np.float32).tobytes())
    onnx.save(model, tmp_path / "model.onnx")
    result = _invoke(("run", str(tmp_path / "model.onnx"), "--node", "out"))
    assert result.exit_code == 0, result.output
    assert "[onnxrt]" in result.stdout


def test_caffe_mean_file_is_reported_never_read(tmp_path: Path) -> None:
    from parity.api import open_model

    text = (FACE / "model.prototxt").read_text()
    data_layer = ('layer { name: "data" type: "Input" top: "data" '
                  'input_param { shape { dim: 1 dim: 3 dim: 112 dim: 112 } } '
                  'transform_param { mean_file: "../../../etc/passwd" } }\n')
    text = 'name: "m"\n' + data_layer + text[text.index("layer {"):]
    prototxt = caffe_pair(tmp_path, (FACE / "model.caffemodel").read_bytes(), text)
    with open_model(prototxt) as model:
        assert model.transform["data"]["mean_file"] == "../../../etc/passwd"
        assert model.graph.inputs[0].shape == (1, 3, 112, 112)


# -- inputs accepted with a note ------------------------------------------------------

def test_gray_and_alpha_images_are_converted_with_a_note(corpus: dict[str, Case]) -> None:
    from parity.preprocess import read_image

    gray = read_image(Path(corpus["image_grayscale"].args[-1]))
    rgba = read_image(Path(corpus["image_with_alpha"].args[-1]))
    assert gray.bgr.shape[2] == rgba.bgr.shape[2] == 3
    assert "grayscale" in gray.note and "alpha" in rgba.note
    assert read_image(FACE.parent / "face.jpg").note == ""


def test_integer_input_is_cast_and_the_report_says_so(corpus: dict[str, Case]) -> None:
    code, report = _json_report(*corpus["input_int"].args[1:])
    assert code == 0
    assert "int64 -> float32" in report["a"]["inputs"]


# -- outputs: atomic, exactly where named ---------------------------------------------

def test_interrupted_run_leaves_the_earlier_run_whole(tmp_path: Path) -> None:
    from parity.saved_run import RunSaver, load_report

    run = tmp_path / "run"
    _invoke(("compare", str(FACE.parent / "smallcnn.onnx"), str(FACE.parent / "smallcnn.pt"),
             "--save-tensors", str(run)))
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(KeyboardInterrupt), RunSaver(run, ["x"], force=True) as saver:
        saver("x", np.zeros(3, np.float32), np.ones(3, np.float32))
        raise KeyboardInterrupt
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert load_report(run).pairs


def test_save_writes_exactly_the_named_file(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    result = _invoke(("run", str(FACE.parent / "smallcnn.onnx"), "--node", "/conv1/Conv",
                      "--save", str(target)))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]
    assert np.load(target).ndim == 4
    again = _invoke(("run", str(FACE.parent / "smallcnn.onnx"), "--node", "/conv1/Conv",
                     "--save", str(target), "--force"))
    assert again.exit_code == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


# -- Ctrl-C and SIGTERM: one line, exit 130/143, nothing half-written left ---------------

SLOW_FACTORY = """
import time
from pathlib import Path

import torch


class Slow(torch.nn.Module):
    def forward(self, x):
        Path(__file__).with_name("RUNNING").touch()
        time.sleep(60)
        return x + 1


def build():
    return Slow()
"""


@pytest.mark.slow
@pytest.mark.parametrize(("signal_name", "code", "line"), [
    ("SIGINT", 130, "parity: interrupted"), ("SIGTERM", 143, "parity: terminated")])
def test_signal_exits_with_one_line_and_keeps_the_earlier_run(
        tmp_path: Path, signal_name: str, code: int, line: str) -> None:
    import signal
    import time

    factory = write(tmp_path / "slow.py", SLOW_FACTORY)
    run = tmp_path / "run"
    _invoke(("compare", str(FACE.parent / "smallcnn.onnx"), str(FACE.parent / "smallcnn.pt"),
             "--save-tensors", str(run)))
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    entry_point = Path(sys.executable).with_name("parity")
    process = subprocess.Popen(
        [str(entry_point), "compare", f"{factory}:build", f"{factory}:build", "--input-shape",
         "1,4", "--save-tensors", str(run), "--force"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "RUNNING").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    process.send_signal(getattr(signal, signal_name))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code
    assert stderr.strip().splitlines() == [line]
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RUNNING", "run", "slow.py"]


def test_keras_backend_from_the_environment_is_overridden(tmp_path: Path) -> None:
    """KERAS_BACKEND=jax in the environment: parity still runs Keras on torch."""
    import os

    entry_point = Path(sys.executable).with_name("parity")
    done = subprocess.run([str(entry_point), "inspect", str(FACE.parent / "keras"
                                                            / "resnet_small.keras")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_random_inputs_have_the_same_values_without_a_float64_copy() -> None:
    """Drawn in chunks: the seeded values are unchanged and the peak stays near the result."""
    import tracemalloc

    from parity.graph import TensorSpec
    from parity.inputs import random_arrays

    spec = (TensorSpec("x", (4, 1024, 1024)),)
    tracemalloc.start()
    try:
        (_, values), = random_arrays(spec, spec, seed=3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert values.dtype == np.float32 and peak < 1.5 * values.nbytes
    expected = np.random.default_rng(3).standard_normal(values.shape).astype(np.float32)
    assert np.array_equal(values, expected)


# -- Caffe layers whose top is not their name (pytorch2caffe writes every layer so) -----

def test_caffe_layers_named_apart_from_their_tops_load_and_run(tmp_path: Path) -> None:
    import torch

    from fixtures.caffe_proto import caffemodel_bytes, write_prototxt
    from parity.api import open_model

    rng = np.random.default_rng(0)
    w1, b1 = rng.standard_normal((4, 3, 3, 3), np.float32), rng.standard_normal(4, np.float32)
    w2, b2 = rng.standard_normal((2, 4, 1, 1), np.float32), rng.standard_normal(2, np.float32)
    net = {"name": "p2c", "input": ["data"], "input_shape": [{"dim": [1, 3, 8, 8]}], "layer": [
        {"name": "conv1", "type": "Convolution", "bottom": ["data"], "top": ["blob1"],
         "convolution_param": {"num_output": 4, "kernel_size": [3]}, "blobs": [w1, b1]},
        {"name": "relu1", "type": "ReLU", "bottom": ["blob1"], "top": ["blob1"]},
        {"name": "conv2", "type": "Convolution", "bottom": ["blob1"], "top": ["blob2"],
         "convolution_param": {"num_output": 2, "kernel_size": [1]}, "blobs": [w2, b2]},
        {"name": "relu2", "type": "ReLU", "bottom": ["blob2"], "top": ["blob3"]}]}
    write_prototxt(tmp_path / "p2c.prototxt", net)
    (tmp_path / "p2c.caffemodel").write_bytes(caffemodel_bytes(net))
    x = rng.standard_normal((1, 3, 8, 8), np.float32)
    with open_model(tmp_path / "p2c.prototxt") as model:
        assert model.graph.node("conv2").shape == (1, 2, 6, 6)
        assert set(model.parameters("conv1")) == {"weight", "bias"}
        got = model.run({"data": x}, ["conv1", "relu1", "conv2", "relu2"])
    conv1 = torch.conv2d(torch.from_numpy(x), torch.from_numpy(w1), torch.from_numpy(b1))
    conv2 = torch.conv2d(conv1.relu(), torch.from_numpy(w2), torch.from_numpy(b2))
    np.testing.assert_allclose(got["conv1"], conv1.numpy(), atol=1e-5)
    np.testing.assert_allclose(got["relu1"], conv1.relu().numpy(), atol=1e-5)
    np.testing.assert_allclose(got["relu2"], conv2.relu().numpy(), atol=1e-5)
