"""The pytest plugin, through pytester: fixture, failure message, report files, marker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import FIXTURES
from parity.metrics import Tolerance
from parity.pytest_plugin import ParitySession, sanitise
from parity.render.failure import render_failure
from parity.report import SHAPE_MISMATCH, Hint, PairResult, Report, Side

pytest_plugins = ["pytester"]

# "no:parity" keeps the installed pytest11 entry point from registering the module twice.
PLUGIN = ("-p", "no:parity", "-p", "parity.pytest_plugin", "-p", "no:cacheprovider",
          "-W", "ignore::pytest.PytestAssertRewriteWarning")
PATHS = f"""
import parity
import pytest

GOOD = {str(FIXTURES / "smallcnn.onnx")!r}
BAD = {str(FIXTURES / "smallcnn_bad_eps.onnx")!r}
TORCH = {str(FIXTURES / "smallcnn.pt")!r}
"""


@pytest.fixture(scope="module")
def frameworks() -> None:
    """Skip without torch/onnxruntime; else compare once here first.

    Pytester's in-process runs drop the modules a run imported; torch's compiled parts
    cannot be imported twice, so everything a comparison needs is imported up front.
    """
    pytest.importorskip("torch", reason="parity[torch] not installed")
    pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
    import parity

    parity.compare(FIXTURES / "smallcnn_bad_eps.onnx", FIXTURES / "smallcnn.pt")


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\n")  # rootdir here: test ids are test_models.py::...
    pytester.makepyfile(test_models=PATHS + source)
    return pytester.runpytest(*PLUGIN, *args)


@pytest.mark.usefixtures("frameworks")
def test_passing_comparison_through_the_fixture(pytester):
    result = run(pytester, """
def test_ok(parity_compare):
    report = parity_compare(GOOD, TORCH, seed=0)
    report.assert_ok()
    assert report.tolerance is None  # the numerics rule
""")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*parity: 1 comparison, 0 diverged"])


@pytest.mark.usefixtures("frameworks")
def test_failure_shows_the_first_divergence_and_rows_around_it(pytester):
    result = run(pytester, """
def test_converted_model_matches():
    parity.assert_parity(BAD, TORCH, seed=0)
""")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert ("models diverge at pair #16 of 25: /layer2/layer2.0/bn2/BatchNormalization <-> "
            "layer2.0.bn2 (BatchNormalization)") in out
    assert "of scale vs noise bound" in out and "max-abs 0.0837" in out
    assert "worst channels: 14 (0.0837)" in out
    for row in ("/layer2/layer2.0/conv2/Conv", "/branch_a/Conv"):  # pairs 15 and 19
        assert row in out
    for row in ("/maxpool/MaxPool", "/Flatten", "/fc/Gemm"):  # pairs 4, 23 and 24
        assert row not in out
    assert "(18 more rows" in out
    result.stdout.fnmatch_lines(["*parity: 1 comparison, 1 diverged"])


@pytest.mark.usefixtures("frameworks")
def test_report_dir_gets_files_for_failing_comparisons_only(pytester):
    result = run(pytester, """
def test_ok(parity_compare):
    parity_compare(GOOD, TORCH).assert_ok()

def test_bad(parity_compare):
    parity_compare(BAD, TORCH).assert_ok()

@pytest.mark.parametrize("model", [BAD], ids=["bad-eps"])
def test_bad_api(model):
    parity.assert_parity(model, TORCH)
""", "--parity-report", "out")
    result.assert_outcomes(passed=1, failed=2)
    out = pytester.path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        f"test_models.py_{test}.{suffix}" for test in ("test_bad", "test_bad_api_bad-eps")
        for suffix in ("html", "json", "md")]
    for stem in ("test_models.py_test_bad", "test_models.py_test_bad_api_bad-eps"):
        data = json.loads((out / f"{stem}.json").read_text())
        assert data["ok"] is False
        assert data["first_divergence"]["b"] == "layer2.0.bn2"
        assert "layer2.0.bn2" in (out / f"{stem}.html").read_text()
    result.stdout.fnmatch_lines([f"*parity: 3 comparisons, 2 diverged; reports written to {out}"])


@pytest.mark.usefixtures("frameworks")
def test_marker_sets_fixture_defaults_and_calls_override_them(pytester):
    result = run(pytester, """
pytestmark = pytest.mark.parity(rtol=0.5, seed=3)

@pytest.mark.parity(atol=0.1)
def test_loose(parity_compare):
    report = parity_compare(BAD, TORCH)
    report.assert_ok()
    assert (report.tolerance.atol, report.tolerance.rtol) == (0.1, 0.5)
    assert "seed 3" in report.a.inputs

@pytest.mark.parity(atol=0.1)
def test_call_wins(parity_compare):
    assert parity_compare(BAD, TORCH, atol=1e-5, rtol=1e-5).ok is False
""")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(("marker", "message"), [
    ("parity(atoll=1e-3)",
     "unknown argument 'atoll' (allowed: atol, rtol, seed, error_stat, error_quantile)"),
    ("parity(1e-3)", "takes keyword arguments only"),
    ("parity(atol=-1)", "atol must be a non-negative number, got -1"),
    ("parity(seed=1.5)", "seed must be a non-negative int, got 1.5"),
])
def test_marker_arguments_are_validated(pytester, marker, message):
    result = run(pytester, f"""
@pytest.mark.{marker}
def test_x(parity_compare):
    pass
""")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*test_models.py::test_x: @pytest.mark.parity*{message}*"])


def test_sanitise_keeps_ids_readable_and_bounded():
    assert sanitise("tests/test_a.py::test_b[x/y-1e-5]") == "tests_test_a.py_test_b_x_y-1e-5"
    long = sanitise("t.py::test[" + "x" * 300 + "]")
    assert len(long) == 111 and long != sanitise("t.py::test[" + "x" * 301 + "]")


def empty_report(pairs: tuple[PairResult, ...] = (), hints: tuple[Hint, ...] = ()) -> Report:
    first = pairs[0] if pairs else None
    return Report(Side("a.onnx", "onnxrt"), Side("b.pt", "pytorch"), Tolerance(), pairs,
                  ("x",), (), first, hints)


def test_colliding_test_ids_get_separate_files(tmp_path):
    session = ParitySession(tmp_path)
    for nodeid in ("t.py::test[a/b]", "t.py::test[a_b]"):
        session.record(nodeid, empty_report())
        session.write_failures(nodeid)
    pages = sorted(p.name for p in tmp_path.glob("*.html"))
    assert len(pages) == 2 and "t.py_test_a_b.html" in pages


def test_failure_message_without_metrics():
    assert render_failure(empty_report()).startswith(
        "models diverge: no node of A was aligned with a node of B")
    mismatch = PairResult("r", "r", "Reshape", "exact", (1, 6), (2, 3), SHAPE_MISMATCH)
    hints = tuple(Hint("layout", node, "reshape order") for node in "rstuv")
    message = render_failure(empty_report((mismatch,), hints))
    assert "models diverge at pair #0 of 1: r <-> r (Reshape)\n  shapes 1x6 vs 2x3" in message
    assert message.count("hint [layout]") == 1
    assert "  hint [layout] r: reshape order\n    same cause at: s, t, u, ... (4 in all)" in message
    assert ">  0  r       r       Reshape        -       -  shape_mismatch" in message


def test_plugin_import_loads_no_framework():
    code = ("import sys, parity.pytest_plugin; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'mxnet', 'cv2', 'rich') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
