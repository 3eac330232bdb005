"""--error-stat (Polygraphy's --check-error-stat) on real forward passes: the SmallCNN in
TorchScript against an ONNX export whose one logit is off (``fc.bias[3] + 0.01``): every
statistic that sees the one wrong value in ten fails, the median does not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES
from parity.errors import UsageError
from parity.verdict import ErrorStat
from parity.verdict.statistic import noise_factor, reduce

TORCH = FIXTURES / "smallcnn.pt"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def one_bad_logit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """smallcnn.onnx with the bias of logit 3 raised by 0.01: one value of ten is wrong."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("torch", reason="parity[torch] not installed")
    from onnx import numpy_helper

    model = onnx.load(str(FIXTURES / "smallcnn.onnx"))
    for init in model.graph.initializer:
        if init.name == "fc.bias":
            bias = numpy_helper.to_array(init).copy()
            bias[3] += 0.01
            init.CopyFrom(numpy_helper.from_array(bias, init.name))
    path = tmp_path_factory.mktemp("error_stat") / "smallcnn_bad_logit.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def reports(one_bad_logit: Path) -> dict[str, object]:
    import parity

    found: dict[str, object] = {}
    for stat in (None, "max", "mean", "median", "quantile"):
        found[str(stat)] = parity.compare(TORCH, one_bad_logit, error_stat=stat)
    for stat in (None, "rms", "median"):
        found[f"atol {stat}"] = parity.compare(TORCH, one_bad_logit, atol=1e-3,
                                               error_stat=stat)
    found["q0.8"] = parity.compare(TORCH, one_bad_logit, error_stat="quantile",
                                   error_quantile=0.8)
    return found


def test_the_statistic_changes_the_verdict_under_the_numerics_rule(reports):
    default = reports["None"]
    assert not default.ok and default.first_divergence.a == "fc"
    for stat in ("max", "mean", "quantile"):  # q0.99 of ten values sees the wrong one
        assert reports[stat].first_divergence.a == "fc", stat
    assert reports["median"].ok
    assert reports["q0.8"].ok  # one value in ten is above the 0.8 quantile
    fc = reports["median"].pairs[-1].verdict
    assert fc.error < 1e-5 < default.pairs[-1].verdict.error  # noise vs the wrong logit


def test_the_error_column_shows_the_statistic_and_its_bound(reports):
    rms, median, top = (reports[k].pairs[-1].verdict for k in ("None", "median", "max"))
    size = 10
    # the median's bound is sqrt(2) times the RMS bound of the same pair; max the extreme
    assert median.bound == pytest.approx(rms.bound * np.sqrt(2))
    assert top.bound == pytest.approx(rms.bound * noise_factor("max", 0.99, size))
    assert top.error > rms.error > median.error
    assert rms.amplification == median.amplification  # always on the RMS error


def test_explicit_tolerance_follows_polygraphy(reports):
    assert not reports["atol None"].ok  # elemwise: numpy allclose
    assert not reports["atol rms"].ok  # rms(a - b) > atol and > rtol * rms(b)
    assert reports["atol median"].ok  # median |a - b| <= atol
    assert reports["atol median"].pairs[-1].verdict.rule == "allclose"


def test_reports_name_the_statistic(reports):
    from parity.render.markdown import render_markdown
    from parity.render.text import render_text

    report = reports["max"]
    markdown = render_markdown(report)
    assert "| max/scale |" in markdown
    assert "error statistic max" in markdown
    assert "max error" in markdown  # the first divergence's verdict in words
    assert "max/scale" in render_text(report, width=160)
    from parity.render.html import render_html

    html = render_html(report)
    assert '<th class="num">max/scale</th>' in html and "max / scale (log)" in html
    tolerance = report.to_dict()["tolerance"]
    assert (tolerance["error_stat"], tolerance["error_quantile"]) == ("max", None)
    quantile = reports["q0.8"].to_dict()["tolerance"]
    assert (quantile["error_stat"], quantile["error_quantile"]) == ("quantile", 0.8)
    assert "| err/scale |" in render_markdown(reports["None"])
    assert reports["None"].to_dict()["tolerance"]["error_stat"] is None


def test_saved_report_keeps_the_statistic(reports, tmp_path):
    from parity.saved_run import load_report

    path = tmp_path / "report.json"
    path.write_text(json.dumps(reports["q0.8"].to_dict()))
    loaded = load_report(path)
    assert loaded.error_stat == ErrorStat("quantile", 0.8)


def test_cli_project_defaults_and_environment(one_bad_logit, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from parity.cli import cli

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["compare", str(TORCH), str(one_bad_logit)]
    assert runner.invoke(cli, args).exit_code == 1
    good = runner.invoke(cli, [*args, "--error-stat", "median", "--format", "json"])
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["tolerance"]["error_stat"] == "median"
    env = runner.invoke(cli, args, env={"PARITY_COMPARE_ERROR_STAT": "median"})
    assert env.exit_code == 0, env.output
    (tmp_path / "pyproject.toml").write_text(
        '[tool.parity.compare]\nerror-stat = "quantile"\nerror-quantile = 0.8\n')
    project = runner.invoke(cli, args)
    assert project.exit_code == 0, project.output
    wrong = runner.invoke(cli, [*args, "--error-stat", "median"])
    assert wrong.exit_code == 2
    assert wrong.stderr.strip().splitlines() == [
        "parity: error: --error-quantile needs --error-stat quantile"]


def test_bad_options_are_one_line():
    with pytest.raises(UsageError, match="between 0 and 1"):
        ErrorStat.from_options("quantile", 1.0)
    with pytest.raises(UsageError, match="expected one of"):
        ErrorStat.from_options("p99")
    assert ErrorStat.from_options("elemwise").for_rule(numerics=True) == "max"
    assert ErrorStat().for_rule(numerics=False) == "elemwise"


def test_reduce_skips_values_not_finite_on_both_sides():
    a = np.array([1.0, 2.0, np.nan, 4.0])
    b = np.array([1.0, 2.5, 3.0, 4.0])
    assert reduce("max", 0.99, a, b).absolute == 0.5
    assert reduce("median", 0.99, a, b).absolute == 0.0
    assert reduce("mean", 0.99, a, b).relative == pytest.approx(0.2 / 3)


PLUGIN = ("-p", "no:parity", "-p", "parity.pytest_plugin", "-p", "no:cacheprovider",
          "-W", "ignore::pytest.PytestAssertRewriteWarning")
pytest_plugins = ["pytester"]


def test_pytest_marker_takes_the_statistic(pytester, one_bad_logit, reports):
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_models=f"""
import pytest

@pytest.mark.parity(error_stat="median")
def test_median(parity_compare):
    parity_compare({str(TORCH)!r}, {str(one_bad_logit)!r}).assert_ok()

def test_rms(parity_compare):
    parity_compare({str(TORCH)!r}, {str(one_bad_logit)!r}).assert_ok()
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1, failed=1)
    pytester.makepyfile(test_models="""
import pytest

@pytest.mark.parity(error_stat="p99")
def test_bad_marker(parity_compare):
    pass
""")
    result = pytester.runpytest(*PLUGIN)
    assert "error_stat must be one of" in result.stdout.str() + result.stderr.str()
