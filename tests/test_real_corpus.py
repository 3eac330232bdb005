"""Every correct conversion of the real-model corpus at default settings.

Each pair of ``realmodels.PAIRS`` (a real architecture in two forms, see
``tests/realmodels``) is compared with ``parity.compare`` on the model's own inputs (int64
token ids with a padded mask, or a normalised image). A correct conversion must exit 0:
``report.ok``, at least 95% of each side's comparable nodes paired. Cases that fail today
carry ``xfail(strict=False)`` naming the work that fixes them; whoever lands that work
removes the mark. The table of all cases (pairs, unmatched, coverage, exit, first
divergence) is printed in the terminal summary and written to
``<pytest basetemp>/real-corpus.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="parity[torch] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
pytest.importorskip("transformers", reason="the test extra (transformers) is not installed")

from click.testing import CliRunner  # noqa: E402
from realmodels import PAIRS, Pair  # noqa: E402

import parity  # noqa: E402
from parity.cli import cli  # noqa: E402

MIN_COVERAGE = 0.95

ALIGNMENT = ("exporter graphs misaligned or under-paired: scopes, MatMul+Add, "
             "decompositions, shape arithmetic (#13 alignment: align helper)")
CAFFE_MOBILENET = ("OpenCV Caffe diverges from MXNet from linearbottleneck14 conv1 "
                   "(max-abs 0.03): cause not yet known (corpus helper)")

_PASSING = {
    "resnet-pt2-onnx_legacy", "resnet-pt2-onnx_dynamo", "resnet-onnx_legacy-onnx_dynamo",
    "efficientnet-pt2-onnx_dynamo", "efficientnet-factory-onnx_dynamo",
    "efficientnet-onnx_legacy-onnx_dynamo", "mx_resnet18-mxnet-mx_onnx",
    "mx_resnet18-mxnet-caffe", "mx_resnet18-mx_onnx-caffe", "mx_mobilenet_v2-mxnet-mx_onnx",
    "convnext-onnx_legacy-onnx_dynamo",
}
# Passing by report.ok but under the 95% coverage this suite asks for.
_LOW_COVERAGE = {"efficientnet-pt2-onnx_dynamo", "efficientnet-factory-onnx_dynamo",
                 "efficientnet-onnx_legacy-onnx_dynamo", "convnext-onnx_legacy-onnx_dynamo"}


def known_failure(pair: Pair) -> str | None:
    """Why ``pair`` fails today, or None when it must pass."""
    forms = {pair.a, pair.b}
    if pair.model == "mx_mobilenet_v2" and "caffe" in forms:
        return CAFFE_MOBILENET
    if pair.model == "mobilenet_v2":
        return f"{ALIGNMENT}; pairs over the fixed 1e-5 tolerance (#14: verdict helper)"
    if pair.id not in _PASSING or pair.id in _LOW_COVERAGE:
        return ALIGNMENT
    return None


def _param(pair: Pair) -> Any:
    reason = known_failure(pair)
    marks = [pytest.mark.xfail(strict=False, reason=reason)] if reason else []
    return pytest.param(pair, id=pair.id, marks=marks)


class _Table:
    """Rows of the corpus table, printed at the end of the session and written to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[str] = []

    def add(self, pair: Pair, report: Any | None, error: str = "") -> None:
        if report is None:
            self.rows.append(f"| {pair.model} | {pair.a} | {pair.b} | - | - | - | - | "
                             f"error: {error[:120]} |")
            return
        cov_a, cov_b = report.coverage
        self.rows.append(
            f"| {pair.model} | {pair.a} | {pair.b} | {len(report.pairs)} | "
            f"{len(report.unmatched_a)}/{len(report.unmatched_b)} | "
            f"{cov_a:.0%}/{cov_b:.0%} | {0 if report.ok else 1} | "
            f"{_first(report)} |")

    def text(self) -> str:
        header = ("| model | A | B | pairs | unmatched A/B | coverage A/B | exit | "
                  "first divergence |\n|---|---|---|---|---|---|---|---|")
        return "\n".join([header, *self.rows]) + "\n"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        self.path.write_text(self.text(), encoding="utf-8")
        terminalreporter.section("parity real-model corpus")
        for line in self.text().splitlines():
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(written to {self.path})")


def _first(report: Any) -> str:
    first = report.first_divergence
    if first is None:
        return "low coverage" if report.low_coverage else "-"
    size = f" {first.metrics.max_abs:.2g}" if first.metrics else ""
    return f"{first.a} ~ {first.b} {first.status}{size}"


@pytest.fixture(scope="session")
def corpus_table(tmp_path_factory: pytest.TempPathFactory,
                 pytestconfig: pytest.Config) -> _Table:
    table = _Table(tmp_path_factory.getbasetemp() / "real-corpus.md")
    pytestconfig.pluginmanager.register(table, "parity-real-corpus-table")
    return table


@pytest.mark.slow
@pytest.mark.parametrize("pair", [_param(p) for p in PAIRS])
def test_correct_conversion_exits_0(pair: Pair, real_corpus: Any, corpus_table: _Table) -> None:
    a, b = real_corpus.export(pair.model, pair.a), real_corpus.export(pair.model, pair.b)
    try:
        report = parity.compare(a, b, inputs=real_corpus.inputs(pair.model))
    except parity.ParityError as exc:
        corpus_table.add(pair, None, str(exc))
        raise
    corpus_table.add(pair, report)
    assert report.ok, f"{pair.id}: first divergence {_first(report)}"
    assert min(report.coverage) >= MIN_COVERAGE, f"{pair.id}: coverage {report.coverage}"


_CLI_CASES = [Pair("bert", "onnx_dynamo", "pt"), Pair("resnet", "pt2", "onnx_dynamo"),
              Pair("mx_resnet18", "mxnet", "caffe")]


@pytest.mark.slow
@pytest.mark.parametrize("pair", [_param(p) for p in _CLI_CASES])
def test_cli_compare_with_inputs_file_exits_0(pair: Pair, real_corpus: Any) -> None:
    inputs = real_corpus.inputs_file(pair.model)
    result = CliRunner().invoke(cli, ["compare", real_corpus.export(pair.model, pair.a),
                                      real_corpus.export(pair.model, pair.b),
                                      "--inputs", str(inputs)])
    assert result.exit_code == 0, result.output[-3000:]
