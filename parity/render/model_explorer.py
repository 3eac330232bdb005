"""Node data for Google's Model Explorer: each compared node coloured by its error.

Model Explorer (``pip install ai-edge-model-explorer``, ONNX through
``model-explorer-onnx``) overlays "node data" JSON on a graph: a value and a colour per
node id. One file is written per side, keyed by that side's node names, which for ONNX
are the node names Model Explorer uses as ids (graph inputs are its ``[value] name``
nodes). The value is the pair's max-abs error (-1 where the shapes differ); passing nodes
are green, failing ones orange to red by how far past what the pair was held to they are
(its error over its own noise bound under the numerics rule, its max-abs over its atol
under an explicit tolerance), and the first divergence is vivid red with white text.
Nodes parity did not compare keep Model Explorer's own colours.

The format is ``GraphNodeData`` of ``model_explorer.node_data_builder``:
``{"results": {node_id: {"value", "bgColor", "textColor"}}, ...}``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from parity.report import SHAPE_MISMATCH, PairResult, Report

OK_COLOR = "#c8e6c9"
FAIL_COLORS = ("#ffe0b2", "#e64a19")  # just past the tolerance ... a million times past it
MISMATCH_COLOR = "#ce93d8"
FIRST_COLOR, FIRST_TEXT = "#d50000", "#ffffff"
SHAPE_MISMATCH_VALUE = -1


def node_data(report: Report, side: str) -> dict[str, Any]:
    """The ``GraphNodeData`` JSON object for side ``"a"`` or ``"b"`` of ``report``."""
    results: dict[str, dict[str, Any]] = {}
    for pair in report.pairs:
        name = pair.a if side == "a" else pair.b
        node_id = f"[value] {name}" if pair.is_input else name
        results[node_id] = _result(pair, report)
    return {"results": results}


def _result(pair: PairResult, report: Report) -> dict[str, Any]:
    m = pair.metrics
    value = SHAPE_MISMATCH_VALUE if m is None else m.max_abs
    if pair is report.first_divergence:
        return {"value": value, "bgColor": FIRST_COLOR, "textColor": FIRST_TEXT}
    if pair.status == SHAPE_MISMATCH or m is None:
        return {"value": value, "bgColor": MISMATCH_COLOR}
    if not pair.failed:
        return {"value": value, "bgColor": OK_COLOR}
    past = _past(pair, report)
    return {"value": value, "bgColor": _mix(*FAIL_COLORS, math.log10(max(past, 1.0)) / 6)}


def _past(pair: PairResult, report: Report) -> float:
    """How many times past its limit a failing pair is: error over the pair's own noise
    bound (the numerics rule), or max-abs over the atol of the tolerance that judged it."""
    tol = report.criteria.for_pair(pair.a, pair.b)[1]
    if tol is None:
        ratio = pair.verdict.ratio if pair.verdict is not None else None
        return math.inf if ratio is None else ratio  # None: an infinite error
    assert pair.metrics is not None
    return pair.metrics.max_abs / max(tol.atol, 1e-30)


def _mix(low: str, high: str, t: float) -> str:
    """The colour ``t`` (clamped to 0..1) of the way from ``low`` to ``high``."""
    t = min(max(t, 0.0), 1.0)
    channels = [round(int(low[i:i + 2], 16) * (1 - t) + int(high[i:i + 2], 16) * t)
                for i in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in channels)


def node_data_files(report: Report) -> dict[str, str]:
    """``{"A-<model>.json": text, "B-<model>.json": text}``: one node data file a side."""
    names = file_names(report.a.path, report.b.path)
    return {name: json.dumps(node_data(report, side), indent=1) + "\n"
            for name, side in zip(names, ("a", "b"))}


def file_names(model_a: str, model_b: str) -> tuple[str, str]:
    """``A-<model A's file name>.json``, ``B-<model B's file name>.json``."""
    return f"A-{_file_name(model_a)}.json", f"B-{_file_name(model_b)}.json"


def _file_name(model: str) -> str:
    """``dir/model.onnx`` -> ``model.onnx``; ``models.py:build`` -> ``models.py-build``."""
    name = re.split(r"[\\/]", model.rstrip("/\\"))[-1] or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)
