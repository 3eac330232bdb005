"""A BatchNorm folded into the convolution before it (the torch.onnx default), or into a
Linear (an embedding head's BatchNorm1d, folded by optimisers): re-fold the unfused side's
layer and BatchNorm and compare with the folded weights, per
output channel, to tell an eps mismatch, other running statistics and a weight error
apart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ops import op_class
from ..report import SHAPE_MISMATCH, Hint, PairResult
from ..verdict.numerics import stored_dtype, unit_roundoff
from . import codes
from .advice import set_eps
from .evidence import Evidence
from .fit import reversed_channels_residual
from .runtime import lowest_precision
from .weights import parameters_by_class

_BATCHNORM = op_class("BatchNorm")
_FOLDS_INTO = (op_class("Conv"), op_class("Gemm"))  # a convolution, or a Linear (Gemm/MatMul)
_RTOL = 1e-4  # float32 folded weights: relative agreement that counts as equal
_SHOWN = 8


@dataclass(frozen=True)
class Unfused:
    """The unfused side's layer (convolution or linear) and BatchNorm, and the folded
    side's weights."""

    side: str  # the unfused side, "a" or "b"
    bn_node: str
    folded_node: str
    weight: np.ndarray  # the unfused convolution's, (out, -1)
    bias: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: float
    folded_weight: np.ndarray  # (out, -1)
    folded_bias: np.ndarray
    layer: str = "convolution"
    kernel: tuple[int, ...] = ()  # the unfused weights' own shape, (out, in, kh, kw) for a conv

    @property
    def scale(self) -> np.ndarray:
        return self.gamma / np.sqrt(self.var + self.eps)


def folded_batchnorm(evidence: Evidence) -> list[Hint]:
    """Divergence roots where one side's BatchNorm is folded into its convolution or linear
    layer."""
    hints = []
    for pair in evidence.roots:
        if pair.status == SHAPE_MISMATCH or pair.is_input:
            continue
        found = unfused(evidence, pair)
        if found is not None:
            hint = _diagnose(evidence, pair, found)
            if hint is not None:
                hints.append(hint)
    return hints


def unfused(evidence: Evidence, pair: PairResult) -> Unfused | None:
    """The pair's layer and BatchNorm on the side that keeps them apart, when the other
    side folds them into one layer."""
    by_side = {side: parameters_by_class(evidence, side, node)
               for side, node in (("a", pair.a), ("b", pair.b))}
    for side, other in (("a", "b"), ("b", "a")):
        mine, theirs = by_side[side], by_side[other]
        layer = next((cls for cls in _FOLDS_INTO if cls in mine), None)
        if _BATCHNORM not in mine or layer is None or set(theirs) != {layer}:
            continue
        conv, norm, folded = mine[layer], mine[_BATCHNORM], theirs[layer]
        if "weight" not in conv or "weight" not in folded or not {"mean", "var"} <= set(norm):
            return None
        weight = conv["weight"].reshape(conv["weight"].shape[0], -1)
        folded_weight = folded["weight"].reshape(folded["weight"].shape[0], -1)
        if weight.shape != folded_weight.shape:
            return None
        node = pair.a if side == "a" else pair.b
        bn_node = evidence.node_of_class(side, node, _BATCHNORM) or node
        eps = evidence.graph(side).node(bn_node).attrs.get("eps", 1e-5)
        out = weight.shape[0]
        zeros = np.zeros(out)
        return Unfused(side, bn_node, pair.b if side == "a" else pair.a, weight,
                       conv.get("bias", zeros).ravel(), norm.get("gamma", zeros + 1).ravel(),
                       norm.get("beta", zeros).ravel(), norm["mean"].ravel(),
                       norm["var"].ravel(), float(eps), folded_weight,
                       folded.get("bias", zeros).ravel(),
                       "convolution" if layer == _FOLDS_INTO[0] else "linear layer",
                       tuple(conv["weight"].shape))
    return None


def _close(x: np.ndarray, y: np.ndarray, rtol: float = _RTOL) -> np.ndarray:
    """Per channel (rows): every value agrees to ``rtol`` of the channel's largest."""
    scale = np.maximum(np.abs(x).max(axis=-1, keepdims=True), 1e-12)
    return (np.abs(x - y) <= rtol * scale + 1e-9).all(axis=-1)


def _weights_rtol(evidence: Evidence, pair: PairResult) -> float:
    """Relative agreement of folded weights that counts as equal: float32's, or two units of
    a side's coarser float (a float16 pass stores the folded weights in it, an IR compressed
    to f16 its weights)."""
    dtype, _ = lowest_precision(evidence)
    stored = [d for d in (stored_dtype(evidence.graph("a"), pair.a),
                          stored_dtype(evidence.graph("b"), pair.b)) if d]
    return max(_RTOL, 2 * float(np.finfo(dtype).eps), *(4 * unit_roundoff(d) for d in stored))


def _bias_close(u: Unfused, scale: np.ndarray, folded_bias: np.ndarray,
                rtol: float = _RTOL) -> np.ndarray:
    """Per channel: ``folded_bias`` is the bias re-folded with ``scale``, to ``rtol`` (float32
    precision by default) of its terms (``beta - mean * scale`` nearly cancels in some channels, so
    the result alone is no measure of its rounding)."""
    expected = (u.bias - u.mean) * scale + u.beta
    terms = np.maximum.reduce([np.abs(expected), np.abs(u.beta),
                               np.abs((u.bias - u.mean) * scale)])
    return np.abs(expected - folded_bias) <= rtol * terms + 1e-9


def _diagnose(evidence: Evidence, pair: PairResult, u: Unfused) -> Hint | None:
    refolded = u.weight * u.scale[:, None]
    rtol = _weights_rtol(evidence, pair)
    weights_ok = _close(refolded, u.folded_weight, rtol)
    bias_ok = _bias_close(u, u.scale, u.folded_bias, rtol)
    if weights_ok.all() and bias_ok.all():
        return None  # the fold is right: the cause lies elsewhere
    norms = np.maximum((u.weight ** 2).sum(axis=1), 1e-30)
    ratio = (u.folded_weight * u.weight).sum(axis=1) / norms  # folded scale per channel
    scaled = _close(u.folded_weight, u.weight * ratio[:, None], rtol)
    if not scaled.all() and reversed_input_channels(u):
        return None  # the input channels are reversed: channel_order names it
    if not scaled.all():  # not a per-channel rescaling of the same filters
        return _weights_hint(evidence, pair, u, np.flatnonzero(~(scaled & weights_ok)),
                             "are not the re-folded filters")
    implied_eps = (u.gamma / ratio) ** 2 - u.var
    eps = float(f"{float(np.median(implied_eps)):.3g}")
    if (eps > 0 and np.allclose(implied_eps, eps, rtol=1e-2, atol=1e-7 * max(1.0, eps))
            and _bias_close(u, ratio, u.folded_bias).all()):
        return _eps_hint(evidence, pair, u, eps, implied_eps)
    factor = ratio / u.scale
    if np.allclose(factor, np.median(factor), rtol=_RTOL) and bias_ok.all():
        return _weights_hint(evidence, pair, u, np.flatnonzero(~weights_ok),
                             f"are the re-folded filters x{float(np.median(factor)):.4g}")
    return _stats_hint(evidence, pair, u, ratio)


def refolded(u: Unfused) -> np.ndarray:
    """The unfused side's filters with its BatchNorm folded in, in their own shape."""
    return (u.weight * u.scale[:, None]).reshape(u.kernel)


def reversed_input_channels(u: Unfused) -> bool:
    """The folded filters are the re-folded ones with their input channels reversed
    (RGB/BGR swapped in a first convolution)."""
    return len(u.kernel) == 4 and reversed_channels_residual(
        refolded(u), u.folded_weight.reshape(u.kernel)) is not None


def _sides(u: Unfused) -> tuple[str, str]:
    return (u.side.upper(), "B" if u.side == "a" else "A")


def _channels(indices: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:_SHOWN])
    return shown + (" ..." if len(indices) > _SHOWN else "")


def _eps_hint(evidence: Evidence, pair: PairResult, u: Unfused, eps: float,
              per_channel: np.ndarray) -> Hint:
    unfused, folded = _sides(u)
    backend = evidence.backend(u.side)
    other = evidence.backend("b" if u.side == "a" else "a")
    message = (f"BatchNorm eps differs behind a fold: {unfused}'s `{u.bn_node}` uses "
               f"{u.eps:g}, while {folded}'s `{u.folded_node}` has it folded in with eps "
               f"{eps:.3g} (recovered per channel from the folded weights: "
               f"{float(per_channel.min()):.3g} to {float(per_channel.max()):.3g}). "
               f"Re-fold with eps {u.eps:g}: re-export {folded} ({other.path.name}) from a "
               f"model whose BatchNorm has eps={u.eps:g}; or in {unfused}, "
               f"{set_eps(backend.name, backend.path, u.bn_node, eps)}.")
    return Hint(codes.BN_EPS_MISMATCH, pair.a, message, {
        "eps_a": u.eps if u.side == "a" else eps, "eps_b": eps if u.side == "a" else u.eps,
        "b_node": pair.b, "folded": True, "folded_side": folded,
        "eps_per_channel": [float(e) for e in per_channel], "recomputed_matches": True})


def _weights_hint(evidence: Evidence, pair: PairResult, u: Unfused, channels: np.ndarray,
                  how: str) -> Hint:
    unfused, folded = _sides(u)
    gap = float(np.abs(u.folded_weight - u.weight * u.scale[:, None]).max())
    other = evidence.backend("b" if u.side == "a" else "a")
    message = (f"`{pair.a}`: {folded}'s folded weights in `{u.folded_node}` {how} of "
               f"{unfused}'s {u.layer} and `{u.bn_node}` (largest difference {gap:.3g}, in "
               f"output channel(s) {_channels(channels)}): the weights were changed in the "
               f"conversion, not the BatchNorm. Re-convert {folded} ({other.path.name}) from "
               f"the same weights, or fold {unfused}'s {u.layer} and BatchNorm again.")
    return Hint(codes.WEIGHTS_DIFFER, pair.a, message, {
        "b_node": pair.b, "folded": True, "parameters": {
            "weight": {"max_abs": gap, "channels": [int(c) for c in channels]}}})


def _stats_hint(evidence: Evidence, pair: PairResult, u: Unfused, ratio: np.ndarray) -> Hint:
    unfused, folded = _sides(u)
    var = (u.gamma / ratio) ** 2 - u.eps
    mean = u.bias - (u.folded_bias - u.beta) / np.where(ratio == 0, 1, ratio)
    var_off = np.flatnonzero(~np.isclose(var, u.var, rtol=1e-3, atol=1e-6))
    mean_off = np.flatnonzero(~np.isclose(mean, u.mean, rtol=1e-3, atol=1e-5))
    parts = []
    if len(var_off):
        parts.append(f"variance in channel(s) {_channels(var_off)} (e.g. channel "
                     f"{int(var_off[0])}: {float(var[var_off[0]]):.4g} folded vs "
                     f"{float(u.var[var_off[0]]):.4g})")
    if len(mean_off):
        parts.append(f"mean in channel(s) {_channels(mean_off)} (e.g. channel "
                     f"{int(mean_off[0])}: {float(mean[mean_off[0]]):.4g} folded vs "
                     f"{float(u.mean[mean_off[0]]):.4g})")
    message = (f"`{pair.a}`: {folded}'s `{u.folded_node}` was folded with other running "
               f"statistics than {unfused}'s `{u.bn_node}`: "
               f"{'; '.join(parts) or 'per-channel scale'}. Fold with the running statistics "
               f"of the model {unfused} was made from (export in eval mode, after loading "
               f"the trained state).")
    return Hint(codes.BN_STATS_DIFFER, pair.a, message, {
        "b_node": pair.b, "folded_side": folded, "var_channels": [int(c) for c in var_off],
        "mean_channels": [int(c) for c in mean_off]})
