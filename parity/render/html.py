"""A self-contained HTML report: inline CSS and inline SVG plots, no scripts, no network."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from parity.report import OK, SHAPE_MISMATCH, PairResult, Report, Side

from .columns import Column, pair_columns
from .summary import grouped_hints, judged, summary_line

_WIDTH = 1100  # SVG user units; the SVGs scale to the page width
_LEFT, _RIGHT = 84, 28
_JUMP = 10.0  # amplification marked on the plot
_MAX_X_LABELS = 26
_NUMERIC = {"#", "max-abs", "mean-abs", "max-rel", "cosine"}
_METRIC_TITLES = {"op", "shape", "max-abs", "mean-abs", "cosine"}  # shown before the verdict
_SCOPE = "parity-report"  # the class of the notebook fragment's div
_FOLD_ABOVE = 40  # pairs; a longer table is folded in the notebook fragment


def render_html(report: Report) -> str:
    """The whole report as one HTML document."""
    title = "parity report: " + _verdict(report)
    body = "\n".join([*_sections(report, _pair_table(report)), _node_lists(report)])
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def render_fragment(report: Report) -> str:
    """The report as one ``<div>`` for a notebook cell (``Report._repr_html_``): the
    document's sections, with its stylesheet scoped to the div; a table of more than 40
    pairs comes folded."""
    table = _pair_table(report)
    if len(report.pairs) > _FOLD_ABOVE:
        table = f"<details><summary>show the table</summary>\n{table}\n</details>"
    body = "\n".join(_sections(report, table))
    return f"<div class=\"{_SCOPE}\">\n<style>{_scoped_css()}</style>\n{body}\n</div>\n"


def _sections(report: Report, table: str) -> list[str]:
    """The sections the document and the notebook fragment share, ``table`` the pairs'."""
    return [
        _header(report),
        _first_divergence(report),
        _hints(report),
        _section("Error along the graph", _error_plot(report) + _legend(report)),
        _channel_section(report),
        _section(f"All pairs ({len(report.pairs)})", table),
    ]


def _scoped_css() -> str:
    """The document stylesheet with every rule limited to the fragment's div (print rules
    left out): ``:root``, ``body`` and ``main`` become the div itself."""
    screen = _CSS[:_CSS.index("@page")]

    def scope(selector: str) -> str:
        selector = selector.strip()
        if selector in (":root", "body", "main"):
            return f".{_SCOPE}"
        return f".{_SCOPE} {selector}"

    return re.sub(r"([^{}]+)\{([^{}]*)\}",
                  lambda m: "\n" + ", ".join(scope(s) for s in m[1].split(",")) + " {" + m[2] + "}",
                  screen)


def _verdict(report: Report) -> str:
    if report.ok:
        return "ok"
    if report.first_divergence is not None:
        return "diverged at " + report.first_divergence.a
    return "diverged" if report.pairs else "nothing compared"


# ---------------------------------------------------------------- header and text sections

def _header(report: Report) -> str:
    state = "ok" if report.ok else "bad"
    badge = "OK" if report.ok else "DIVERGED" if report.pairs else "NOTHING COMPARED"
    summary = "<br>".join(escape(line) for line in summary_line(report).splitlines())
    return (
        f"<header>\n<div class=\"title\"><h1>parity report</h1>"
        f"<span class=\"badge {state}\">{badge}</span></div>\n"
        f"<div class=\"sides\">{_side('A', report.a)}{_side('B', report.b)}</div>\n"
        f"<p class=\"tolerance\">verdict: {escape(report.criteria.text())}</p>\n"
        f"<p class=\"summary {state}\">{summary}</p>\n</header>"
    )


def _side(label: str, side: Side) -> str:
    fed = f"<div class=\"fed\">fed {escape(side.inputs)}</div>" if side.inputs else ""
    return (f"<div class=\"side\"><span class=\"label\">{label}</span><div>"
            f"<code class=\"path\">{escape(side.path)}</code> "
            f"<span class=\"backend\">{escape(side.backend)}</span>"
            f"{fed}</div></div>")


def _first_divergence(report: Report) -> str:
    first = report.first_divergence
    if first is None:
        return ""
    index = report.pairs.index(first)
    facts = [("op", escape(first.op)), ("shape", first.dims("×"))]
    if first.metrics is not None:
        m = first.metrics
        facts += [("max-abs", _num(m.max_abs)), ("mean-abs", _num(m.mean_abs)),
                  ("max-rel", _num(m.max_rel)), ("cosine", f"{m.cosine:.6f}")]
    facts.append(("status", escape(first.status)))
    cells = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
    return (
        "<section class=\"first-card\">\n"
        f"<h2>First divergence <span class=\"idx\">#{index}</span></h2>\n"
        f"<p class=\"names\"><code>{escape(first.a)}</code> <span class=\"arrow\">⟷</span> "
        f"<code>{escape(first.b)}</code></p>\n<dl class=\"facts\">{cells}</dl>\n</section>"
    )


def _hints(report: Report) -> str:
    if not report.hints:
        return ""
    groups = grouped_hints(report)
    items = "".join(
        f"<li><span class=\"code\">{escape(h.code)}</span> at <code>{escape(h.node)}</code>"
        f"<p>{_inline_code(h.message)}</p>{_same_cause(others)}</li>"
        for h, others in groups
    )
    return _section(f"Hints ({len(groups)})", f"<ul class=\"hints\">{items}</ul>")


def _inline_code(text: str) -> str:
    """Escaped ``text`` with its markdown `code` spans as ``<code>``."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _same_cause(nodes: list[str]) -> str:
    """The other nodes a hint's cause was found at, folded."""
    if not nodes:
        return ""
    names = "".join(f"<li><code>{escape(n)}</code></li>" for n in nodes)
    return (f"<details><summary>same cause at {len(nodes)} more node(s)</summary>"
            f"<ul class=\"names\">{names}</ul></details>")


def _section(title: str, content: str) -> str:
    return f"<section>\n<h2>{escape(title)}</h2>\n{content}\n</section>"


def _node_lists(report: Report) -> str:
    lists = [("Unmatched in A", report.unmatched_a), ("Unmatched in B", report.unmatched_b),
             ("Skipped in A", report.skipped_a), ("Skipped in B", report.skipped_b)]
    if not any(names for _, names in lists):
        return _section("Nodes not compared",
                        "<p class=\"empty\">None: every node was aligned and compared.</p>")
    blocks = []
    for title, names in lists:
        items = "".join(f"<li><code>{escape(n)}</code></li>" for n in names) or "<li>none</li>"
        opened = " open" if 0 < len(names) <= 12 else ""
        blocks.append(f"<details{opened}><summary>{title} ({len(names)})</summary>"
                      f"<ul class=\"names\">{items}</ul></details>")
    return _section("Nodes not compared", "\n".join(blocks))


# ---------------------------------------------------------------- pair table

def _pair_table(report: Report) -> str:
    verdict = _verdict_columns(report)
    head = "".join(f"<th class=\"num\">{t}</th>" if t in _NUMERIC else f"<th>{t}</th>"
                   for t in ("#", "A node", "B node", "op", "shape", "max-abs", "mean-abs",
                             "max-rel", "cosine"))
    head += "".join(f"<th class=\"num\">{escape(c.title)}</th>" for c in verdict)
    head += "<th>status</th>"
    rows = "\n".join(_pair_row(i, p, p is report.first_divergence, verdict)
                     for i, p in enumerate(report.pairs))
    return (f"<table class=\"pairs\">\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{rows}\n</tbody>\n</table>")


def _verdict_columns(report: Report) -> tuple[Column, ...]:
    """The verdict's columns of the text and markdown tables: the error statistic over
    scale (``err/scale``, ``median/scale``...), its ratio to the noise bound, the
    amplification."""
    return tuple(c for c in pair_columns(report) if c.title not in _METRIC_TITLES)


def _pair_row(index: int, pair: PairResult, first: bool, verdict: tuple[Column, ...]) -> str:
    css = "first" if first else ("fail" if pair.failed else "ok")
    m = pair.metrics
    numbers = (["–"] * 4 if m is None else
               [_num(m.max_abs), _num(m.mean_abs), _max_rel(pair), f"{m.cosine:.6f}"])
    numbers += [escape(c.cell(pair)) for c in verdict]
    status = escape(pair.status) + (" <b>◀ first</b>" if first else "")
    cells = [f"<td class=\"num\">{index}</td>", f"<td><code>{_breakable(pair.a)}</code></td>",
             f"<td><code>{_breakable(pair.b)}</code></td>", f"<td>{escape(pair.op)}</td>",
             f"<td class=\"shape\">{pair.dims('×')}</td>",
             *(f"<td class=\"num\">{n}</td>" for n in numbers),
             f"<td class=\"status\">{status}</td>"]
    anchor = " id=\"first-divergence\"" if first else ""
    return f"<tr class=\"{css}\"{anchor}>{''.join(cells)}</tr>"


def _max_rel(pair: PairResult) -> str:
    """max-rel, except on a passing pair where it exceeds 1: there it only says that some
    of B's values are near 0, where the absolute tolerance decides."""
    m = pair.metrics
    if m is None:
        return "–"
    if not pair.failed and m.max_rel > 1:
        return ("<span class=\"muted\" title=\"within tolerance; the relative error is large "
                f"only where B is near 0 (max-rel {m.max_rel:.3g})\">–</span>")
    return _num(m.max_rel)


def _breakable(name: str) -> str:
    """Escaped ``name`` that wraps after path separators rather than mid-word."""
    return escape(name).replace("/", "/<wbr>").replace(".", ".<wbr>")




def _num(value: float) -> str:
    return f"{value:.3g}"


# ---------------------------------------------------------------- SVG primitives

@dataclass(frozen=True)
class _Scale:
    """Maps data values in ``[lo, hi]`` onto pixels ``[start, end]``, linear or log10."""

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False

    def __call__(self, value: float) -> float:
        lo, hi = self.lo, self.hi
        if self.log:
            value, lo, hi = (math.log10(max(value, self.lo)), math.log10(lo), math.log10(hi))
        t = (min(max(value, lo), hi) - lo) / (hi - lo)
        return round(self.start + t * (self.end - self.start), 2)


def _text(x: float, y: float, label: str, css: str, anchor: str = "middle") -> str:
    return (f"<text x=\"{x:.1f}\" y=\"{y:.1f}\" class=\"{css}\" "
            f"text-anchor=\"{anchor}\">{escape(label)}</text>")


def _line(x1: float, y1: float, x2: float, y2: float, css: str) -> str:
    return (f"<line x1=\"{x1:.1f}\" y1=\"{y1:.1f}\" x2=\"{x2:.1f}\" y2=\"{y2:.1f}\" "
            f"class=\"{css}\"/>")


def _y_axis(scale: _Scale, ticks: Sequence[tuple[float, str]], title: str) -> list[str]:
    """Grid lines with tick labels, and the axis title rotated along the left edge."""
    parts = []
    for value, label in ticks:
        y = scale(value)
        parts.append(_line(_LEFT, y, _WIDTH - _RIGHT, y, "grid"))
        parts.append(_text(_LEFT - 8, y + 4, label, "tick", "end"))
    middle = (scale.start + scale.end) / 2
    parts.append(f"<text class=\"axis-title\" text-anchor=\"middle\" "
                 f"transform=\"translate(16 {middle:.1f}) rotate(-90)\">{escape(title)}</text>")
    return parts


def _x_labels(count: int, x_of: _Scale, y: float, label: str) -> list[str]:
    """Index labels under a panel, thinned to at most ``_MAX_X_LABELS``."""
    step = _round_step(count / _MAX_X_LABELS)
    parts = [_text(x_of(i), y, str(i), "tick") for i in range(0, count, step)]
    parts.append(_text((x_of.start + x_of.end) / 2, y + 20, label, "axis-title"))
    return parts


def _round_step(minimum: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... at least ``minimum``."""
    magnitude = 1
    while True:
        for mantissa in (1, 2, 5):
            if mantissa * magnitude >= minimum:
                return mantissa * magnitude
        magnitude *= 10


def _log_ticks(lo: float, hi: float, floor_label: str) -> list[tuple[float, str]]:
    """Decades from ``lo`` up to ``hi``, thinned to at most seven; the lowest is labelled
    ``floor_label`` (values at or below it are drawn there)."""
    first, last = round(math.log10(lo)), round(math.log10(hi))
    step = max(1, math.ceil((last - first) / 6))
    ticks = [(10.0 ** e, f"1e{e}") for e in range(first, last + 1, step)]
    return [(lo, floor_label), *ticks[1:]]


def _linear_ticks(lo: float, hi: float, count: int = 5) -> list[tuple[float, str]]:
    """Round-numbered ticks covering ``[lo, hi]``."""
    raw = (hi - lo) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    decimals = max(0, -math.floor(math.log10(step)) + (1 if step / magnitude == 2.5 else 0))
    start = math.ceil(lo / step - 1e-9)
    values = [k * step for k in range(start, math.floor(hi / step + 1e-9) + 1)]
    return [(v, f"{v:.{decimals}f}") for v in values]


def _svg(height: int, content: list[str], label: str, css: str) -> str:
    return (f"<svg class=\"{css}\" viewBox=\"0 0 {_WIDTH} {height}\" role=\"img\" "
            f"aria-label=\"{escape(label)}\">\n"
            + "\n".join(content) + "\n</svg>")


# ---------------------------------------------------------------- error-per-layer plot

def _top_value(report: Report) -> Callable[[PairResult], float | None]:
    """What the top panel plots: error relative to scale under the numerics rule (against
    each pair's noise bound), max-abs under an explicit tolerance (against atol)."""
    if report.tolerance is None:
        return lambda p: p.verdict.error if p.verdict else None
    return lambda p: p.metrics.max_abs if p.metrics else None


def _error_axis(report: Report) -> str:
    """``error / scale (log)``, or the statistic ``--error-stat`` chose (``median / scale``)."""
    label = report.error_stat.label()
    return f"{'error' if label == 'err' else label} / scale (log)"


def _bound(pair: PairResult) -> float | None:
    return pair.verdict.bound if pair.verdict else None


def _max_abs_range(report: Report) -> tuple[float, float]:
    """Decade-aligned log range covering every positive value, atol or bound."""
    value = _top_value(report)
    values = [v for p in report.pairs for v in (value(p), _bound(p))
              if v is not None and 0 < v < math.inf]
    values.append(report.tolerance.atol if report.tolerance and report.tolerance.atol else 1e-5)
    low = math.floor(math.log10(min(values))) - 1
    high = max(math.ceil(math.log10(max(values))), low + 2)
    return 10.0 ** low, 10.0 ** high


def _cosine_range(report: Report) -> tuple[float, float]:
    """From a little under the lowest cosine up to 1."""
    cosines = [p.metrics.cosine for p in report.pairs if p.metrics]
    low = min([*cosines, 1 - 1e-4])
    return max(-1.0, low - (1 - low) * 0.1), 1.0


def _error_plot(report: Report) -> str:
    """Two panels sharing the x axis (pairs in graph order): max-abs (log) and cosine."""
    count = len(report.pairs)
    if not count:
        return "<p class=\"empty\">No pairs were compared.</p>"
    x_of = _Scale(-0.5, count - 0.5, _LEFT, _WIDTH - _RIGHT)
    top = _Scale(*_max_abs_range(report), 260, 40, log=True)
    bottom = _Scale(*_cosine_range(report), 450, 310)
    value = _top_value(report)
    pinned = any((value(p) or 0) < top.lo for p in report.pairs)
    floor = ("≤ " if pinned else "") + f"1e{round(math.log10(top.lo))}"
    numerics = report.tolerance is None
    parts = _mismatch_bands(report, x_of, 40, 450)
    parts += _first_marker(report, x_of, 28, 450)
    parts += _y_axis(top, _log_ticks(top.lo, top.hi, floor),
                     _error_axis(report) if numerics else "max-abs (log)")
    parts += _y_axis(bottom, _linear_ticks(bottom.lo, bottom.hi, 4), "cosine")
    parts += _bound_line(report, x_of, top) if numerics else _tolerance_line(report, top)
    parts += _series(report, x_of, top, value, "error" if numerics else "max-abs")
    parts += _series(report, x_of, bottom, lambda p: p.metrics.cosine if p.metrics else None,
                     "cosine")
    parts += _x_labels(count, x_of, 470, "pair # in A's topological order")
    dense = " dense" if count > 150 else ""  # small markers: no outline, a fainter trace
    return _svg(500, parts, "max-abs and cosine similarity per pair", "plot" + dense)


def _tolerance_line(report: Report, scale: _Scale) -> list[str]:
    atol = report.tolerance.atol if report.tolerance else 0.0
    if atol <= 0:
        return []
    y = scale(atol)
    return [_line(_LEFT, y, _WIDTH - _RIGHT, y, "tol"),
            _text(_LEFT + 6, y - 5, f"atol {atol:g}", "tol-label", "start")]


def _bound_line(report: Report, x_of: _Scale, scale: _Scale) -> list[str]:
    """The noise bound of each pair, as a dashed step line the errors are held to."""
    points = []
    slot = (x_of.end - x_of.start) / len(report.pairs) / 2
    for index, pair in enumerate(report.pairs):
        bound = _bound(pair)
        if bound is not None and 0 < bound < math.inf:
            y = scale(min(max(bound, scale.lo), scale.hi))
            points += [f"{x_of(index) - slot:.1f},{y:.1f}", f"{x_of(index) + slot:.1f},{y:.1f}"]
    if not points:
        return []
    return [f"<polyline class=\"tol bound\" points=\"{' '.join(points)}\"/>"]


def _mismatch_bands(report: Report, x_of: _Scale, y1: float, y2: float) -> list[str]:
    """A shaded column behind each pair whose shapes could not be compared."""
    slot = (x_of.end - x_of.start) / len(report.pairs)
    return [f"<rect class=\"band\" x=\"{x_of(i) - slot / 2:.1f}\" y=\"{y1}\" "
            f"width=\"{slot:.1f}\" height=\"{y2 - y1}\"/>"
            for i, p in enumerate(report.pairs) if p.status == SHAPE_MISMATCH]


def _first_marker(report: Report, x_of: _Scale, y1: float, y2: float) -> list[str]:
    first = report.first_divergence
    if first is None:
        return []
    index = report.pairs.index(first)
    x = x_of(index)
    anchor = "end" if index > len(report.pairs) * 0.6 else "start"
    dx = -6 if anchor == "end" else 6
    return [_line(x, y1, x, y2, "first-line"),
            _text(x + dx, y1 - 8, f"first divergence #{index}: {first.b}", "first-label",
                  anchor)]


def _series(report: Report, x_of: _Scale, scale: _Scale,
            value: Callable[[PairResult], float | None], name: str) -> list[str]:
    """A grey polyline through the pairs with metrics and one circle per pair."""
    points, circles = [], []
    radius = min(4.5, max(1.5, (x_of.end - x_of.start) / len(report.pairs) * 0.35))
    for index, pair in enumerate(report.pairs):
        x = x_of(index)
        shown = value(pair)
        if shown is None or not math.isfinite(shown):  # shape mismatch or non-finite: a
            y = scale.end if name == "max-abs" else scale.start  # marker at the worst end
        else:
            y = scale(min(max(shown, scale.lo), scale.hi))
            points.append(f"{x:.1f},{y:.1f}")
        circles.append(_point(index, pair, (x, y), radius, pair is report.first_divergence,
                              name))
    line = f"<polyline class=\"trace\" points=\"{' '.join(points)}\"/>"
    return [line, *circles]


def _point(index: int, pair: PairResult, at: tuple[float, float], radius: float, first: bool,
           name: str) -> str:
    """One pair's marker, coloured by status, with its names and values as a tooltip."""
    status = {OK: "ok", SHAPE_MISMATCH: "mismatch"}.get(pair.status, "fail")
    css = f"pt {status}" + (" first" if first else "")
    x, y = at
    radius += 2 if first else 0
    tip = f"#{index} {pair.a} ⟷ {pair.b} ({pair.op}): {pair.status}"
    if pair.metrics is not None:
        tip += f", {judged(pair)}, max-abs {pair.metrics.max_abs:.3g}, " \
               f"cosine {pair.metrics.cosine:.6f}"
    v = pair.verdict
    if v is not None and v.amplification is not None and v.amplification >= _JUMP:
        css += " jump"  # amplified the error it received beyond smooth growth
    return (f"<circle class=\"{css}\" data-series=\"{name}\" cx=\"{x:.1f}\" cy=\"{y:.1f}\" "
            f"r=\"{radius}\"><title>{escape(tip)}</title></circle>")


def _legend(report: Report) -> str:
    statuses = {p.status for p in report.pairs}
    keys = [("ok", "within tolerance", OK in statuses), ("fail", "outside tolerance", True),
            ("mismatch", "shape mismatch (no metrics)", SHAPE_MISMATCH in statuses)]
    items = "".join(f"<span><i class=\"dot {css}\"></i>{text}</span>"
                    for css, text, shown in keys if shown)
    bound = "noise bound" if report.tolerance is None else "atol"
    items += (f"<span><i class=\"dash tol\"></i>{bound}</span>"
              f"<span><i class=\"dot jump\"></i>amplification ≥ {_JUMP:g}x</span>"
              "<span><i class=\"dash first-dash\"></i>first divergence</span>")
    return f"<p class=\"legend\">{items} <em>Hover a point for its names and values.</em></p>"


# ---------------------------------------------------------------- per-channel chart

def _channel_section(report: Report) -> str:
    first = report.first_divergence
    if first is None:
        return ""
    title = f"Per-channel max-abs at the first divergence ({first.b})"
    if not first.channel_max_abs:
        note = ("<p class=\"empty\">No per-channel view: the pair has no channel axis or "
                "its shapes differ.</p>")
        return _section(title, note)
    values = first.channel_max_abs
    atol = report.tolerance.atol if report.tolerance else _noise_level(first)
    worst = max(range(len(values)), key=lambda i: values[i])
    outside = sum(v > atol for v in values)
    caption = (f"<p class=\"caption\">{outside} of {len(values)} channels exceed atol "
               f"{atol:g}; worst: channel {worst} ({values[worst]:.3g}).</p>")
    return _section(title, caption + _channel_chart(values, atol, worst))


def _noise_level(pair: PairResult) -> float:
    """The absolute difference the numerics bound allows a pair (bound times scale)."""
    v, m = pair.verdict, pair.metrics
    return v.bound * m.scale if v and v.bound is not None and m else 0.0


def _channel_chart(values: Sequence[float], atol: float, worst: int) -> str:
    """One bar per channel (axis 1); non-finite channels are drawn full height."""
    finite = [v for v in values if math.isfinite(v)]
    top = max([*finite, atol, 1e-12])
    ticks = _linear_ticks(0.0, top, 4)
    scale = _Scale(0.0, max(top, ticks[-1][0]), 230, 20)
    x_of = _Scale(-0.5, len(values) - 0.5, _LEFT, _WIDTH - _RIGHT)
    width = max(1.0, (x_of.end - x_of.start) / len(values) * 0.72)
    parts = _y_axis(scale, ticks, "max-abs")
    for channel, value in enumerate(values):
        parts.append(_bar(channel, value, x_of(channel), width, scale, atol, channel == worst))
    if atol >= 0.03 * scale.hi:  # a line hugging the axis would only hide it
        parts += [_line(_LEFT, scale(atol), _WIDTH - _RIGHT, scale(atol), "tol"),
                  _text(_WIDTH - _RIGHT, scale(atol) - 5, f"atol {atol:g}", "tol-label", "end")]
    parts += _x_labels(len(values), x_of, 248, "channel")
    return _svg(280, parts, "largest absolute error per channel", "channels")


def _bar(channel: int, value: float, x: float, width: float, scale: _Scale, atol: float,
         worst: bool) -> str:
    finite = math.isfinite(value)
    y = scale.end if not finite else scale(value)
    css = "bar " + ("nonfinite" if not finite else "fail" if value > atol else "ok")
    label = f"channel {channel}: " + (f"{value:.3g}" if finite else "NaN/inf")
    bar = (f"<rect class=\"{css}\" x=\"{x - width / 2:.1f}\" y=\"{y:.1f}\" "
           f"width=\"{width:.1f}\" height=\"{scale.start - y:.1f}\">"
           f"<title>{escape(label)}</title></rect>")
    if worst:
        bar += _text(x, y - 6, f"{value:.3g}" if finite else "NaN/inf", "bar-label")
    return bar


_CSS = """
:root { --ok: #2e7d32; --fail: #c62828; --mismatch: #6a1b9a; --ink: #1f2328;
  --muted: #59636e; --line: #d8dee4; --soft: #f6f8fa; --fail-bg: #fdecea; --first-bg: #f9d3cf; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "DejaVu Sans", sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 28px 32px 48px; }
code, .path, td code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas,
  "DejaVu Sans Mono", monospace; font-size: 0.9em; overflow-wrap: anywhere; }
h1 { font-size: 26px; margin: 0; letter-spacing: -0.01em; }
h2 { font-size: 18px; margin: 0 0 10px; }
section { margin-top: 28px; }
.title { display: flex; align-items: center; gap: 14px; }
.badge { font-weight: 700; font-size: 13px; letter-spacing: 0.06em; padding: 4px 10px;
  border-radius: 999px; color: #fff; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--fail); }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; margin-top: 16px; }
.side { display: flex; gap: 12px; border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 14px; background: var(--soft); }
.side .label { font-weight: 700; font-size: 20px; color: var(--muted); }
.backend { display: inline-block; font-size: 12px; padding: 1px 7px; border-radius: 4px;
  background: #e7ecf0; color: var(--ink); margin-left: 4px; }
.fed { color: var(--muted); font-size: 13px; margin-top: 4px; overflow-wrap: anywhere; }
.tolerance { color: var(--muted); margin: 12px 0 0; }
.summary { margin: 10px 0 0; padding: 10px 14px; border-left: 4px solid; border-radius: 4px; }
.summary.ok { border-color: var(--ok); background: #edf7ee; }
.summary.bad { border-color: var(--fail); background: var(--fail-bg); }
.first-card { border: 1px solid #f1b8b2; background: #fff7f6; border-radius: 8px;
  padding: 14px 18px; }
.first-card h2 { color: var(--fail); }
.first-card .idx { color: var(--muted); font-weight: 500; }
.first-card .names { margin: 0 0 10px; font-size: 16px; } .arrow { color: var(--muted); }
.facts { display: flex; flex-wrap: wrap; gap: 10px 28px; margin: 0; }
.facts dt { font-size: 12px; color: var(--muted); text-transform: uppercase;
  letter-spacing: 0.04em; } .facts dd { margin: 0; font-weight: 600;
  font-variant-numeric: tabular-nums; }
.hints { list-style: none; padding: 0; margin: 0; }
.hints li { border-left: 4px solid #d29922; background: #fff8e5; padding: 8px 12px;
  margin-bottom: 8px; border-radius: 4px; } .hints p { margin: 4px 0 0; }
.hints details { border: 0; padding: 0; margin: 4px 0 0; font-size: 13px; }
.hints .code { font-weight: 700; font-family: ui-monospace, Menlo, Consolas, monospace; }
svg { display: block; width: 100%; height: auto; overflow: visible; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, "DejaVu Sans",
  sans-serif; fill: var(--ink); }
.tick { font-size: 12px; fill: var(--muted); font-variant-numeric: tabular-nums; }
.axis-title { font-size: 13px; fill: var(--muted); }
.grid { stroke: #e6eaef; stroke-width: 1; }
.trace { fill: none; stroke: #8c959f; stroke-width: 1.5; }
.pt { stroke: #fff; stroke-width: 1.5; } .pt.ok { fill: var(--ok); }
.pt.fail { fill: var(--fail); }
.pt.mismatch { fill: #fff; stroke: var(--mismatch); stroke-width: 2; }
.band { fill: var(--mismatch); opacity: 0.08; }
.pt.first { stroke: var(--ink); stroke-width: 2.5; }
.pt.jump { stroke: #8250df; stroke-width: 2.5; } .dot.jump { background: #8250df; }
.dense .pt:not(.first) { stroke: none; } .dense .trace { stroke-width: 1; opacity: 0.45; }
.tol { stroke: #d29922; stroke-width: 1.5; stroke-dasharray: 7 5; }
.bound { fill: none; }
.tol-label { font-size: 12px; fill: #9a6700; font-weight: 600; }
.first-line { stroke: var(--fail); stroke-width: 1.5; stroke-dasharray: 3 4; }
.first-label { font-size: 13px; fill: var(--fail); font-weight: 600; }
.bar.fail { fill: var(--fail); } .bar.ok { fill: var(--ok); }
.bar.nonfinite { fill: var(--mismatch); } .bar-label { font-size: 12px; font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 20px; align-items: center;
  font-size: 13px; color: var(--muted); margin: 6px 0 0 84px; }
.legend span { display: inline-flex; align-items: center; gap: 6px; }
.dot { width: 10px; height: 10px; border-radius: 50%; display: inline-block; }
.dot.ok { background: var(--ok); } .dot.fail { background: var(--fail); }
.dot.mismatch { border: 2px solid var(--mismatch); background: #fff; }
.dash { width: 22px; height: 0; border-top: 2px dashed; display: inline-block; }
.dash.tol { border-color: #d29922; } .dash.first-dash { border-color: var(--fail); }
table.pairs { width: 100%; border-collapse: collapse; font-size: 13px; }
.pairs th { text-align: left; font-weight: 600; color: var(--muted); border-bottom: 2px solid
  var(--line); padding: 6px 6px; position: sticky; top: 0; background: #fff; }
.pairs td { padding: 5px 6px; border-bottom: 1px solid #eef1f4; vertical-align: top; }
.pairs .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.pairs .shape, .pairs .status { white-space: nowrap; }
.pairs td code { overflow-wrap: break-word; }
.pairs tr.fail td { background: var(--fail-bg); }
.pairs tr.first td { background: var(--first-bg); font-weight: 600; }
.pairs tr.first td:first-child { box-shadow: inset 4px 0 0 var(--fail); }
.pairs tr.ok:hover td { background: var(--soft); }
details { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px;
  margin-bottom: 8px; } summary { cursor: pointer; font-weight: 600; }
ul.names { columns: 2; margin: 8px 0 4px; padding-left: 20px; font-size: 13px; }
.caption { color: var(--muted); margin: -4px 0 6px; }
.empty { color: var(--muted); font-style: italic; } .muted { color: var(--muted); }
@page { size: landscape; margin: 12mm; }
@media print {
  body { font-size: 12px; } main { max-width: none; padding: 0; }
  table.pairs { font-size: 10px; } .fed, .legend, .caption { font-size: 11px; }
  section { break-inside: avoid; } section:has(table) { break-inside: auto; }
  .pairs th { position: static; } .legend em { display: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  details::details-content { content-visibility: visible; display: block; }
}
"""
