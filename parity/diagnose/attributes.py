"""Causes visible in the layers' attributes: BatchNorm eps, pooling rounding."""

from __future__ import annotations

import numpy as np

from ..graph import dims_text
from ..ops import op_class
from ..report import SHAPE_MISMATCH, Hint, PairResult
from .advice import round_pooling, set_eps
from .codes import BN_EPS_MISMATCH, POOL_CEIL_MODE
from .evidence import Evidence

# eps values converters commonly write or frameworks default to, tried when one side
# hides its eps (a BatchNorm folded into a convolution).
COMMON_EPS = (1e-3, 1e-5, 2e-5, 1.001e-5, 1e-4)
_BATCHNORM = op_class("BatchNorm")
_POOL_CLASSES = {op_class("MaxPool"), op_class("AveragePool"), op_class("Pooling")}


def bn_eps_mismatch(evidence: Evidence) -> list[Hint]:
    """A failing BatchNorm pair whose two sides use different eps."""
    hints = []
    for pair in evidence.pairs:
        if not pair.failed or pair.status == SHAPE_MISMATCH:
            continue
        eps_a, eps_b = _eps(evidence, "a", pair.a), _eps(evidence, "b", pair.b)
        if eps_a is None and eps_b is None:
            continue
        if eps_a is not None and eps_b is not None:
            if np.isclose(eps_a, eps_b, rtol=1e-3, atol=0):
                continue
            candidates = (eps_b,)
        else:
            candidates = COMMON_EPS
        closing = _eps_closing_gap(evidence, pair, candidates)
        if eps_a is None or eps_b is None:
            if closing is None:
                continue  # the pattern does not fit an eps difference
            eps_a, eps_b = (closing, eps_b) if eps_a is None else (eps_a, closing)
        hints.append(_eps_hint(evidence, pair, eps_a, eps_b, closing))
    return hints


def _eps(evidence: Evidence, side: str, node: str) -> float | None:
    """The eps of the BatchNorm computing ``node`` (itself, or folded into its chain)."""
    norm = evidence.node_of_class(side, node, _BATCHNORM)
    eps = evidence.graph(side).node(norm).attrs.get("eps") if norm else None
    return None if eps is None else float(eps)


def _eps_closing_gap(
    evidence: Evidence, pair: PairResult, candidates: tuple[float, ...]
) -> float | None:
    """The candidate eps with which A's BatchNorm, recomputed, matches B's output."""
    graph = evidence.graph_a
    values = evidence.values(pair)
    params = evidence.parameters("a", pair.a)
    upstream = evidence.upstream(pair)
    if values is None or not {"mean", "var"} <= set(params) or len(upstream) != 1:
        return None
    before = evidence.values(upstream[0])
    if before is None or graph.node(pair.a).inputs != (upstream[0].a,):
        return None
    x, target = before[0].astype(np.float64), values[1].astype(np.float64)
    if x.shape != values[0].shape or target.size != x.size:
        return None
    target = target.reshape(x.shape)
    gap = np.abs(values[0] - target).max()
    for eps in candidates:
        recomputed = _batchnorm(x, params, eps)
        if np.abs(recomputed - target).max() <= max(0.1 * gap, evidence.tolerance.atol * 10):
            return eps
    return None


def _batchnorm(x: np.ndarray, params: dict[str, np.ndarray], eps: float) -> np.ndarray:
    shape = (1, -1) + (1,) * (x.ndim - 2)
    gamma = params.get("gamma", np.ones_like(params["mean"]))
    beta = params.get("beta", np.zeros_like(params["mean"]))
    scale = gamma / np.sqrt(params["var"] + eps)
    return (x - params["mean"].reshape(shape)) * scale.reshape(shape) + beta.reshape(shape)


def _eps_hint(evidence: Evidence, pair: PairResult, eps_a: float, eps_b: float,
              closing: float | None) -> Hint:
    a, b = evidence.a, evidence.b
    bn_a = evidence.node_of_class("a", pair.a, _BATCHNORM) or pair.a
    bn_b = evidence.node_of_class("b", pair.b, _BATCHNORM) or pair.b
    message = (f"BatchNorm eps differs: A ({a.name}) uses {eps_a:g}, B ({b.name}) uses "
               f"{eps_b:g}. Make them agree on the converted side: in B, "
               f"{set_eps(b.name, b.path, bn_b, eps_a)}; or in A, "
               f"{set_eps(a.name, a.path, bn_a, eps_b)}.")
    if closing is not None:
        message += f" Recomputing A's BatchNorm with eps {closing:g} reproduces B's output."
    return Hint(BN_EPS_MISMATCH, pair.a, message,
                {"eps_a": eps_a, "eps_b": eps_b, "b_node": bn_b,
                 "recomputed_matches": closing is not None})


def pool_ceil_mode(evidence: Evidence) -> list[Hint]:
    """Pooling outputs one pixel apart: one side rounds the pooled size up, the other down."""
    hints = []
    for pair in evidence.roots:
        if pair.status != SHAPE_MISMATCH or len(pair.shape_a) != 4 or len(pair.shape_b) != 4:
            continue
        op_a, op_b = evidence.graph_a.op_of(pair.a), evidence.graph_b.op_of(pair.b)
        if op_class(op_a) not in _POOL_CLASSES or op_class(op_b) not in _POOL_CLASSES:
            continue
        spatial_a, spatial_b = pair.shape_a[2:], pair.shape_b[2:]
        diffs = [x - y for x, y in zip(spatial_a, spatial_b)]
        if pair.shape_a[:2] != pair.shape_b[:2] or not all(abs(d) <= 1 for d in diffs):
            continue
        if not any(diffs):
            continue
        a_rounds_up = any(d > 0 for d in diffs)
        up_side, down_side = ("A", "B") if a_rounds_up else ("B", "A")
        a, b = evidence.a, evidence.b
        message = (f"Pooling output sizes differ by one ({dims_text(pair.shape_a)} vs "
                   f"{dims_text(pair.shape_b)}): {up_side} rounds the pooled size up (ceil_mode), "
                   f"{down_side} rounds it down. Make them agree on the converted side: in B, "
                   f"{round_pooling(b.name, b.path, pair.b, up=a_rounds_up)}; or in A, "
                   f"{round_pooling(a.name, a.path, pair.a, up=not a_rounds_up)}.")
        hints.append(Hint(POOL_CEIL_MODE, pair.a, message,
                          {"shape_a": list(pair.shape_a), "shape_b": list(pair.shape_b),
                           "rounds_up": up_side}))
    return hints

