"""Markdown sized for a GitHub comment: summary first, the table folded, the environment."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from conftest import FIXTURES
from parity.render.markdown import render_markdown
from parity.saved_run import load_report

onnx = pytest.importorskip("onnx", reason="parity[onnx] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

GITHUB_LIMIT = 65_000
LAYERS = 500  # two nodes each: 1,000 pairs


def deep_mlp(path, bad_layer: int | None) -> None:
    """A 500-layer residual MLP (Add + Relu per layer, BERT-like scoped names);
    ``bad_layer`` adds 0.01 more at that layer, as a wrong constant in a conversion."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, previous = [], [], "input"
    for i in range(LAYERS):
        scope = f"/encoder/layer.{i}/attention/output/dense"
        bias = np.full((1, 8), 0.001 * (i % 7), np.float32)
        if i == bad_layer:
            bias = bias + np.float32(0.01)
        inits.append(numpy_helper.from_array(bias, f"bias_{i}"))
        nodes.append(helper.make_node("Add", [previous, f"bias_{i}"], [f"{scope}/Add_out"],
                                      name=f"{scope}/Add"))
        nodes.append(helper.make_node("Relu", [f"{scope}/Add_out"], [f"{scope}/Relu_out"],
                                      name=f"{scope}/Relu"))
        previous = f"{scope}/Relu_out"
    graph = helper.make_graph(
        nodes, "deep_mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, [1, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def thousand_pairs(tmp_path_factory):
    import parity

    folder = tmp_path_factory.mktemp("deep")
    deep_mlp(folder / "converted.onnx", bad_layer=300)
    deep_mlp(folder / "reference.onnx", bad_layer=None)
    return parity.compare(folder / "converted.onnx", folder / "reference.onnx", seed=0)


def test_a_1000_pair_report_fits_a_github_comment(thousand_pairs):
    report = thousand_pairs
    assert len(report.pairs) >= 1000
    assert report.first_divergence.a == "/encoder/layer.300/attention/output/dense/Add"
    text = render_markdown(report)
    assert len(text) < GITHUB_LIMIT
    head = text.splitlines()[:15]
    assert head[0] == ("### parity: models diverge at "
                       "`/encoder/layer.300/attention/output/dense/Add` (Add)")
    summary = "\n".join(head)
    assert "First divergence**, pair #601" in summary
    assert re.search(r"max-abs 0\.01\b", summary)
    assert "outside tolerance" in summary
    assert "<details>" in text and text.index("<details>") > text.index("Around the first")
    assert "do not fit in a comment" in text
    assert "| 601 | `/encoder/layer.300/attention/output/dense/Add`" in text.split("<details>")[1]
    assert text.count("<details>") == text.count("</details>") == 1


class _Outline(HTMLParser):
    """Where the rendered page's headings, tables and folds are, and what holds them."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.events: list[tuple[str, tuple[str, ...]]] = []  # (tag, enclosing tags)
        self.rows_in_details = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.events.append((tag, tuple(self.open)))
        if tag == "tr" and "details" in self.open:
            self.rows_in_details += 1
        if tag not in ("br", "hr", "img", "input"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]


def test_github_renders_the_full_table_folded(thousand_pairs):
    """Through cmark-gfm (GitHub's own markdown parser, its GFM extensions on; raw HTML kept
    as GitHub keeps <details>): the summary renders first, the full table is an HTML
    table inside the fold, and nothing of it spills out as text."""
    cmarkgfm = pytest.importorskip("cmarkgfm", reason="the test extra (cmarkgfm) is missing")
    from cmarkgfm.cmark import Options

    text = render_markdown(thousand_pairs)
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    outline = _Outline()
    outline.feed(html)
    tags = [tag for tag, _ in outline.events]
    assert tags[0] == "h3"  # the verdict heading comes first
    details = tags.index("details")
    assert tags.index("summary") == details + 1
    assert tags.index("strong") < details  # "N of M pairs outside tolerance", bold
    tables = [enclosing for tag, enclosing in outline.events if tag == "table"]
    assert len(tables) == 2  # the rows around the first divergence, then the full table
    assert "details" not in tables[0] and "details" in tables[1]
    assert [i for i, (t, _) in enumerate(outline.events) if t == "table"][1] > details
    shown = sum(line.startswith("| ") for line in text.split("<details>")[1].splitlines())
    assert outline.rows_in_details == shown  # every markdown row became an HTML row
    folded = html.split("<details>")[1].split("</details>")[0]
    assert '<td align="right">601</td>' in folded and "| " not in folded
    assert "<h4>Environment</h4>" in html.split("</details>")[1]


def test_environment_block_names_versions(thousand_pairs):
    import onnxruntime

    text = render_markdown(thousand_pairs)
    environment = text[text.index("#### Environment"):]
    assert text.index("</details>") < text.index("#### Environment")
    assert f"onnxruntime {onnxruntime.__version__}" in environment
    assert "onnx opset 17 (A), 17 (B)" in environment
    assert re.search(r"Python 3\.\d+", environment) and "parity " in environment


def test_small_report_is_whole_with_hint_before_the_table():
    report = load_report(FIXTURES / "reports" / "resnet50_bad_eps.json")
    text = render_markdown(report)
    lines = text.splitlines()
    hint = next(i for i, line in enumerate(lines) if line.startswith("> **Hint** `bn_eps"))
    assert hint < 15
    assert hint < lines.index("#### Around the first divergence")
    assert "<summary>All 176 pairs</summary>" in text
    assert "do not fit" not in text
    rows = [line for line in lines if line.startswith("| ") and "`" in line]
    assert len(rows) == 176 + 7  # the whole table, and the 7 rows around the divergence


def test_ok_report_says_so_first():
    report = load_report(FIXTURES / "reports" / "resnet50_bad_eps.json")
    from dataclasses import replace

    ok = replace(report, pairs=report.pairs[:100], first_divergence=None, hints=())
    text = render_markdown(ok)
    assert text.startswith("### parity: ok, 100 pairs within tolerance")
    assert "Around the first divergence" not in text
