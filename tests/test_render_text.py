"""The terminal report fits narrow terminals without breaking a cell; -q, -v, --output.

The ResNet-50 report is a real comparison saved by fixtures/reports/build_resnet50.py
(176 pairs with torchvision's ONNX node names), re-rendered without running a model.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from conftest import FIXTURES
from parity.cli import cli
from parity.render.fit import middle_ellipsis
from parity.render.text import render_text, visible_rows
from parity.saved_run import load_report

RESNET = FIXTURES / "reports" / "resnet50_bad_eps.json"


@pytest.fixture(scope="module")
def resnet():
    return load_report(RESNET)


def table_rows(text: str) -> list[list[str]]:
    """The cells of each data row of the rendered table."""
    return [[cell.strip() for cell in line.split("│")]
            for line in text.splitlines() if line.count("│") >= 3]


def is_abbreviation(cell: str, name: str) -> bool:
    """``cell`` is ``name``, or ``name`` with a middle part replaced by one ellipsis."""
    if cell == name or cell == "…":
        return True
    head, _, tail = cell.partition("…")
    return name.startswith(head) and name.endswith(tail) and len(cell) < len(name)


@pytest.mark.parametrize("width", [80, 120])
def test_resnet50_table_fits_without_breaking_a_cell(resnet, width):
    text = render_text(resnet, width=width)
    assert all(len(line) <= width for line in text.splitlines())
    rows = table_rows(text)
    shown = [i for i in visible_rows(resnet, show_all=False) if i is not None]
    elided = visible_rows(resnet, show_all=False).count(None)
    assert len(rows) == len(shown) + elided  # no row wrapped onto a second line
    data = [row for row in rows if row[0] != "…"]
    for row, index in zip(data, shown):
        pair = resnet.pairs[index]
        assert row[0] == str(index)
        assert is_abbreviation(row[1], pair.a), row
        assert is_abbreviation(row[2], pair.b), row
        assert f"{pair.metrics.max_abs:.3g}" in row[3:], row  # whole, not `7.15e-`/`07`
        assert row[-1].split()[0] == pair.status
    first = resnet.pairs.index(resnet.first_divergence)
    assert "◀" in data[shown.index(first)][-1]


@pytest.mark.parametrize("width", [80, 120])
def test_prose_wraps_between_words(resnet, width):
    text = render_text(resnet, width=width)
    hint = resnet.hints[0]
    prose = text[text.index("hint ["):]
    assert " ".join(prose.split()) == f"hint [{hint.code}] {hint.node}: {hint.message}"
    words = set(f"hint [{hint.code}] {hint.node}: {hint.message}".split())
    assert set(prose.split()) <= words  # every line ends at a word boundary


def test_at_120_columns_more_is_kept_than_at_80(resnet):
    header = {w: next(line for line in render_text(resnet, width=w).splitlines()
                      if "A node" in line) for w in (80, 120)}
    assert "op" in header[120].split() and "op" not in header[80].split()
    assert "max-abs" in header[80] and "cosine" in header[80]


def test_natural_width_keeps_every_name_and_prose_on_one_line(resnet):
    text = render_text(resnet)
    for row in table_rows(text):
        assert "…" not in row[1] or row[0] == "…"
    assert sum(line.startswith("hint [") for line in text.splitlines()) == 1
    hint_line = next(line for line in text.splitlines() if line.startswith("hint ["))
    assert hint_line.endswith(resnet.hints[0].message)


def test_middle_ellipsis_keeps_the_distinguishing_end():
    name = "/layer3/layer3.2/bn2/BatchNormalization"
    assert middle_ellipsis(name, 23) == "…bn2/BatchNormalization"
    assert middle_ellipsis(name, 100) == name
    assert middle_ellipsis("/encoder/layer.11/attention/self/query/MatMul", 30) == \
        "…attention/self/query/MatMul"
    assert middle_ellipsis("/encoder/layer.11/attention/self/query/MatMul", 37) == \
        "…layer.11/attention/self/query/MatMul"
    assert middle_ellipsis("/layer1/layer1.0/conv1/Conv", 20) == "…layer1.0/conv1/Conv"
    for width in range(2, 40):
        cut = middle_ellipsis(name, width)
        assert len(cut) <= width and is_abbreviation(cut, name)


def run(*args: str, columns: str | None = None):
    env = {"COLUMNS": columns} if columns else {"COLUMNS": ""}
    return CliRunner().invoke(cli, list(args), env=env)


def test_quiet_prints_only_the_verdict_line():
    result = run("report", str(RESNET), "-q")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "parity: diverge at pair #105 of 176: /layer3/layer3.2/bn2/BatchNormalization <-> "
        "layer3.2.bn2 (BatchNormalization) max-abs 0.998, cosine 0.999869"]


def test_verbose_shows_how_pairs_were_aligned(resnet):
    result = run("report", str(RESNET), "-v")
    header = next(line for line in result.output.splitlines() if "A node" in line)
    assert "how" in header.split()
    assert re.search(r"│ scope +│", result.output)


def test_output_file_still_prints_the_verdict_and_hints(tmp_path):
    target = tmp_path / "report.md"
    result = run("report", str(RESNET), "--format", "markdown", "--output", str(target))
    assert result.exit_code == 1
    assert "first divergence: /layer3/layer3.2/bn2/BatchNormalization" in result.output
    assert "hint [bn_eps_mismatch]" in result.output
    assert "│" not in result.output  # the table went to the file only
    assert target.read_text(encoding="utf-8").startswith("### parity: models diverge")


def test_piped_output_is_not_hard_wrapped():
    result = run("report", str(RESNET))
    hint_lines = [line for line in result.output.splitlines() if line.startswith("hint [")]
    assert len(hint_lines) == 1 and hint_lines[0].endswith("reproduces B's output.")


def test_columns_fits_piped_table():
    result = run("report", str(RESNET), columns="80")
    table = [line for line in result.output.splitlines() if "│" in line]
    assert table and all(len(line) <= 80 for line in table)
