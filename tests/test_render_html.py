"""The self-contained HTML report: structure, plots, escaping, no external resources."""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser

import pytest

from conftest import FIXTURES
from parity.metrics import Metrics, Tolerance
from parity.render.html import render_html
from parity.report import FAIL, OK, SHAPE_MISMATCH, Hint, PairResult, Report, Side

VOID = {"meta", "br", "wbr", "hr", "img", "input", "link", "line", "circle", "rect",
        "polyline"}


class StrictParser(HTMLParser):
    """Fails on unbalanced tags; collects text."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in VOID, f"self-closing <{tag}/>"

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:  # <circle ...><title>..</title></circle>
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> StrictParser:
    parser = StrictParser()
    parser.feed(html)
    parser.close()
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


@pytest.fixture(scope="module")
def bad_report() -> Report:
    pytest.importorskip("torch", reason="parity[torch] not installed")
    pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
    import parity

    return parity.compare(FIXTURES / "smallcnn_bad_eps.onnx", FIXTURES / "smallcnn.pt", seed=0)


def svg(html: str, css: str) -> str:
    match = re.search(rf'<svg class="{css}".*?</svg>', html, re.S)
    assert match, f"no <svg class={css!r}>"
    return match.group(0)


def test_real_report_parses_and_names_the_first_divergence(bad_report):
    html = render_html(bad_report)
    text = "".join(parse(html).text)
    assert bad_report.first_divergence.a == "/layer2/layer2.0/bn2/BatchNormalization"
    assert bad_report.first_divergence.a in text
    assert "DIVERGED" in text
    assert bad_report.a.inputs in text
    assert html.count('<tr class="first"') == 1
    assert html.count('<tr class="fail"') == sum(p.failed for p in bad_report.pairs) - 1


def test_plot_has_one_point_per_pair_and_the_noise_bound(bad_report):
    plot = svg(render_html(bad_report), "plot")
    for series in ("error", "cosine"):
        assert plot.count(f'data-series="{series}"') == len(bad_report.pairs)
    assert plot.count('class="pt fail first') == 2  # one per panel
    assert plot.count('class="tol bound"') == 1
    assert "error / scale (log)" in plot
    assert "first divergence #16" in plot


def test_plot_under_an_explicit_tolerance_draws_atol(bad_report):
    from dataclasses import replace

    from parity.metrics import Tolerance

    plot = svg(render_html(replace(bad_report, tolerance=Tolerance(1e-5, 1e-5))), "plot")
    assert plot.count('data-series="max-abs"') == len(bad_report.pairs)
    assert plot.count('class="tol"') == 1 and "atol 1e-05" in plot


def test_channel_chart_has_one_bar_per_channel(bad_report):
    channels = bad_report.first_divergence.channel_max_abs
    assert len(channels) == 16
    chart = svg(render_html(bad_report), "channels")
    assert len(re.findall(r'<rect class="bar ', chart)) == len(channels)


def test_no_external_resources(bad_report):
    html = render_html(bad_report)
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<script|<link|<img|@import|url\(", html)


def metrics(max_abs: float, cosine: float = 1.0) -> Metrics:
    return Metrics(max_abs, max_abs / 4, max_abs * 10, cosine, 0, 0, 0, 0)


def hand_report() -> Report:
    evil = "<script>alert('x')</script>"
    pairs = (
        PairResult("in&put", "x", "Input", "input", (1, 3), (1, 3), OK, metrics(0.0)),
        PairResult(evil, "b<1>", "Conv\"", "exact", (1, 3), (1, 3), FAIL, metrics(0.5, 0.9),
                   (0.5, float("inf"), 1e-6)),
        PairResult("c", "c", "Reshape", "exact", (1, 3), (3,), SHAPE_MISMATCH),
    )
    return Report(
        a=Side("<a>.onnx", "onnxrt", "random <normal>"), b=Side("b&.pt", "pytorch"),
        tolerance=Tolerance(1e-5, 1e-5), pairs=pairs, unmatched_a=("<u>",), unmatched_b=(),
        first_divergence=pairs[1],
        hints=(Hint("<hint-code>", evil, "message with <b>tags</b> & ampersands"),
               Hint("<hint-code>", "c<2>", "same message")),
    )


def test_every_name_is_escaped():
    html = render_html(hand_report())
    parse(html)
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    for raw in ("<a>.onnx", "b<1>", "c<2>", "<u>", "<hint-code>", "<b>tags</b>", "random <normal>"):
        assert raw not in html
    assert escape("message with <b>tags</b> & ampersands") in html


def test_hints_with_one_code_are_listed_once():
    html = render_html(hand_report())
    assert html.count('<span class="code">&lt;hint-code&gt;</span>') == 1
    assert "same cause at 1 more node(s)" in html and "c&lt;2&gt;" in html


def test_shape_mismatch_and_non_finite_channels_are_drawn():
    report = hand_report()
    html = render_html(report)
    plot = svg(html, "plot")
    assert plot.count('class="pt mismatch"') == 2
    assert "shape mismatch" in html
    chart = svg(html, "channels")
    assert chart.count('class="bar nonfinite"') == 1
    assert chart.count('<rect class="bar ') == 3


def test_ok_and_empty_reports_render():
    ok_pair = PairResult("a", "a", "Relu", "exact", (1, 2), (1, 2), OK, metrics(1e-7))
    base = dict(a=Side("a", "onnxrt"), b=Side("b", "pytorch"), tolerance=Tolerance(),
                unmatched_a=(), unmatched_b=(), first_divergence=None)
    ok_html = render_html(Report(pairs=(ok_pair,), **base))
    parse(ok_html)
    assert ">OK<" in ok_html and "channels" not in ok_html
    empty_html = render_html(Report(pairs=(), **base))
    parse(empty_html)
    assert "NOTHING COMPARED" in empty_html and "<svg" not in empty_html


def test_report_renders_itself_in_a_notebook(bad_report):
    fragment = bad_report._repr_html_()
    parser = parse(fragment)
    assert fragment.startswith('<div class="parity-report">')
    assert "<html" not in fragment and "<body" not in fragment
    style = re.search(r"<style>(.*?)</style>", fragment, re.S)[1]
    selectors = [rule.split("{")[0].strip() for rule in style.split("}") if "{" in rule]
    assert selectors and all(s.startswith(".parity-report") for sel in selectors
                             for s in (part.strip() for part in sel.split(",")))
    assert 'class="plot"' in fragment or "<svg" in fragment  # the error-along-graph plot
    text = " ".join(parser.text)
    assert "/layer2/layer2.0/bn2/BatchNormalization" in text and "bn_eps_mismatch" in text
    assert fragment.count("<tr") == len(bad_report.pairs) + 1


def test_report_renders_markdown_in_a_notebook(bad_report):
    text = bad_report._repr_markdown_()
    assert text.startswith("### parity: models diverge at `/layer2/layer2.0/bn2/")
    assert "<details>" in text


def test_hint_code_spans_become_code_elements(bad_report):
    html = render_html(bad_report)
    hints = html[html.index('<ul class="hints">'):]
    hints = hints[:hints.index("</ul>")]
    assert "`" not in hints
    assert "<code>eps=0.1</code>" in hints


def test_shape_mismatch_markers_sit_at_the_worst_end_of_each_panel():
    plot = svg(render_html(hand_report()), "plot")
    marks = re.findall(r'<circle class="pt mismatch" data-series="(\w[\w-]*)" cx="[\d.]+" '
                       r'cy="([\d.]+)"', plot)
    assert dict(marks) == {"max-abs": "40.0", "cosine": "450.0"}  # top error, lowest cosine


def test_max_rel_is_not_shown_as_a_huge_number_on_passing_rows():
    near_zero = Metrics(1e-7, 1e-8, 1e10, 1.0, 0, 0, 0, 0, True)
    pair = PairResult("r", "r", "Relu", "exact", (1, 4), (1, 4), OK, near_zero)
    report = Report(a=Side("a", "onnxrt"), b=Side("b", "pytorch"), tolerance=Tolerance(),
                    pairs=(pair,), unmatched_a=(), unmatched_b=(), first_divergence=None)
    row = re.search(r'<tr class="ok">.*?</tr>', render_html(report))[0]
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    assert "1e+10" not in "".join(re.sub(r'title="[^"]*"', "", c) for c in cells)
    assert "max-rel 1e+10" in row  # only in the tooltip
