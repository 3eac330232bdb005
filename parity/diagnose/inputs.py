"""Causes visible at the input: channel order, normalisation, layout."""

from __future__ import annotations

import numpy as np

from ..report import Hint, PairResult
from . import folded
from .codes import CHANNEL_ORDER, INPUT_NORMALIZATION, LAYOUT
from .evidence import Evidence
from .fit import reversed_channels_residual

_RESIDUAL = 1e-3  # largest misfit, relative to the tensor's range, that still counts as a fit


def _input_pairs(evidence: Evidence) -> list[PairResult]:
    return [p for p in evidence.pairs if p.is_input and p.failed]


def _channel_axis(array: np.ndarray) -> int | None:
    if array.ndim == 4 and array.shape[1] in (1, 3, 4):
        return 1
    if array.ndim == 4 and array.shape[3] in (1, 3, 4):
        return 3
    return None


def _close(x: np.ndarray, y: np.ndarray) -> bool:
    scale = max(float(np.abs(y).max()), 1e-12)
    return x.shape == y.shape and float(np.abs(x - y).max()) <= _RESIDUAL * scale


def channel_order(evidence: Evidence) -> list[Hint]:
    """The input (or the first layer's weights) match once the channels are reversed."""
    hints = []
    for pair in _input_pairs(evidence):
        values = evidence.values(pair)
        if values is None:
            continue
        va, vb = values
        axis = _channel_axis(va)
        if axis is None or va.shape != vb.shape or va.shape[axis] < 2:
            continue
        if _close(np.flip(va, axis=axis), vb):
            hints.append(Hint(
                CHANNEL_ORDER, pair.a,
                "B's input is A's input with the colour channels reversed (RGB vs BGR). "
                "Feed both the same order: pass --b-rgb or --b-bgr (and fix the deployment "
                "code that decodes images for the converted model).",
                {"axis": axis}))
    hints += _first_layer_weights_reversed(evidence)
    return hints


def _first_layer_weights_reversed(evidence: Evidence) -> list[Hint]:
    """A first convolution whose input-channel weights were reversed by the conversion,
    also behind a BatchNorm that one side folds into it."""
    hints = []
    for pair in evidence.roots:
        upstream = evidence.upstream(pair)
        if not upstream or any(not p.is_input or p.failed for p in upstream):
            continue
        found = _first_layer_weights(evidence, pair)
        if found is None:
            continue
        wa, wb, behind = found
        residual = reversed_channels_residual(wa, wb)
        if residual is None:
            continue
        channels = wa.shape[1]
        order = ", ".join(map(str, range(channels)))
        reversed_order = ", ".join(map(str, reversed(range(channels))))
        hints.append(Hint(
            CHANNEL_ORDER, pair.a,
            f"The first convolution's weights have their input channels reversed in B "
            f"(`{pair.b}`{behind}): B's filters over input channels ({order}) are A's over "
            f"({reversed_order}) (largest difference {float(np.abs(wa - wb).max()):.3g} as "
            f"converted, {residual:.2g} once reversed): the conversion swapped RGB/BGR. "
            f"Reverse axis 1 of B's `{pair.b}` weights, or feed B the other channel order.",
            {"weights_reversed": True, "b_node": pair.b, "folded": bool(behind),
             "max_abs": float(np.abs(wa - wb).max()), "reversed_max_abs": residual}))
    return hints


def _first_layer_weights(evidence: Evidence, pair: PairResult
                         ) -> tuple[np.ndarray, np.ndarray, str] | None:
    """A's and B's convolution weights of ``pair``, the unfused side's with its BatchNorm
    folded in when the other side folds it (and words saying so)."""
    wa = evidence.parameters("a", pair.a).get("weight")
    wb = evidence.parameters("b", pair.b).get("weight")
    if wa is not None and wb is not None:
        return wa, wb, ""
    found = folded.unfused(evidence, pair)
    if found is None or len(found.kernel) != 4:
        return None
    mine, theirs = folded.refolded(found), found.folded_weight.reshape(found.kernel)
    behind = f", which folds in {found.side.upper()}'s `{found.bn_node}`"
    return (mine, theirs, behind) if found.side == "a" else (theirs, mine, behind)


def input_normalization(evidence: Evidence) -> list[Hint]:
    """B's input is a per-channel affine map of A's: different mean/scale preprocessing."""
    hints = []
    for pair in _input_pairs(evidence):
        values = evidence.values(pair)
        if values is None or values[0].shape != values[1].shape:
            continue
        va, vb = (v.astype(np.float64) for v in values)
        axis = _channel_axis(va) or 1
        fit = _affine_fit(np.moveaxis(va, axis, 0), np.moveaxis(vb, axis, 0))
        if fit is None or _close(va, vb):
            continue
        scales, offsets = fit
        if np.allclose(np.flip(va, axis=axis), vb):
            continue  # channel order, reported by its own check
        hints.append(Hint(INPUT_NORMALIZATION, pair.a, _normalisation_message(scales, offsets),
                          {"scale": [float(s) for s in scales],
                           "offset": [float(t) for t in offsets]}))
    return hints


def _affine_fit(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per channel (first axis) ``b = s * a + t`` by least squares, if it fits."""
    scales, offsets = [], []
    for xa, xb in zip(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)):
        if np.ptp(xa) == 0 or not (np.isfinite(xa).all() and np.isfinite(xb).all()):
            return None
        design = np.stack([xa, np.ones_like(xa)], axis=1)
        (s, t), *_ = np.linalg.lstsq(design, xb, rcond=None)
        if not _close(s * xa + t, xb) or abs(s) < 1e-12:
            return None
        scales.append(s)
        offsets.append(t)
    return np.array(scales), np.array(offsets)


def _normalisation_message(scales: np.ndarray, offsets: np.ndarray) -> str:
    scale, offset = float(np.mean(scales)), float(np.mean(offsets))
    uniform = np.allclose(scales, scale, rtol=1e-3) and np.allclose(offsets, offset, atol=1e-3)
    if not uniform:
        per_channel = ", ".join(f"{s:.4g}x{t:+.4g}" for s, t in zip(scales, offsets))
        return (f"B's input is a per-channel affine map of A's ({per_channel}): different "
                f"mean/std per channel. Feed both the same: set --b-mean/--b-std (or --a-*).")
    # Say it in the direction where the map shrinks values: that side was normalised.
    normalised, raw = ("B", "A") if abs(scale) <= 1 else ("A", "B")
    if raw == "B":
        scale, offset = 1 / scale, -offset / scale
    mean = -offset / scale
    return (f"{normalised}'s input is {raw}'s input normalised as (x - {mean:.6g}) * {scale:.6g}: "
            f"{raw} got raw values where {normalised} got normalised ones. Feed both the same: "
            f"set --{raw.lower()}-mean {mean:.6g} --{raw.lower()}-scale {scale:.6g} (or add the "
            f"normalisation the converter dropped).")


def layout(evidence: Evidence) -> list[Hint]:
    """Tensors that match once transposed between NHWC and NCHW."""
    hints = []
    for pair in evidence.roots:
        values = evidence.values(pair)
        if values is None or values[0].ndim != 4 or values[0].shape == values[1].shape:
            continue
        va, vb = values
        for name, perm in (("NHWC", (0, 3, 1, 2)), ("NCHW", (0, 2, 3, 1))):
            moved = np.transpose(va, perm)
            if moved.shape == vb.shape and _close(moved, vb):
                other = "NCHW" if name == "NHWC" else "NHWC"
                hints.append(Hint(
                    LAYOUT, pair.a,
                    f"A's `{pair.a}` is {name} {_dims(va)} where B's `{pair.b}` is {other} "
                    f"{_dims(vb)}: the values match after a transpose. "
                    f"{_layout_advice(evidence, pair, name)}",
                    {"a_layout": name, "b_layout": other}))
                break
    return hints


def _layout_advice(evidence: Evidence, pair: PairResult, a_layout: str) -> str:
    """What to change: the inputs fed, B's output handed back, or a missing transpose."""
    if pair.is_input:
        return "Feed each side its own layout (--a-layout/--b-layout)."
    if pair.a in evidence.graph_a.outputs and pair.b in evidence.graph_b.outputs:
        perm = (0, 2, 3, 1) if a_layout == "NHWC" else (0, 3, 1, 2)
        return (f"B hands its output back in the other layout: transpose it back "
                f"(perm {perm}) or drop the transpose its conversion appended.")
    return ("Add the transpose the conversion is missing, or feed each side its own layout "
            "(--a-layout/--b-layout) where the inputs differ.")


def _dims(array: np.ndarray) -> str:
    return "x".join(str(d) for d in array.shape)
