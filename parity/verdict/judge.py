"""Judge each pair as it is compared: by an explicit tolerance, or by the noise bound.

The numerics rule (docs/numerics.md): a pair's error relative to scale,
``e = rms(a - b) / max(rms(a), rms(b))``, passes when it is at most

    bound = PROPAGATION_SLACK * e_prop + LOCAL_SLACK * (u * (sqrt(K) + ulps) + floor / scale)

where ``e_prop`` is the error its inputs carried, taken through the layer's gain on
rounding noise (estimated from the reference's spread within each channel, out over in,
widened by 1 + 2/sqrt(n) for a gain measured on n values); an input that failed counts
only with the noise expected of it (its bound without the slacks), so a bug upstream is
not passed on as noise. ``u`` is the unit roundoff of the coarsest dtype of the pair,
``K`` its reduction length (float16/bfloat16 computed in float32, on x86:
``u16 * STORAGE_ROUNDINGS + u32 * (sqrt(K) + ulps)``). A value quantized to an int8
grid (either side) adds its dtype term ``QUANT_SLACK * quantization noise``
(:mod:`.quantization`), and its layer's gain on noise is at least its gain on white
noise; such pairs are judged by ``numerics int8``. Smooth growth stays under the bound;
a layer that adds error beyond it fails, and the first such layer whose inputs passed is
the first divergence.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from parity.align import Match
from parity.graph import Graph
from parity.metrics import Groups, Metrics, Tolerance
from parity.ops import family

from . import numerics, statistic
from .criteria import NUMERICS, NUMERICS_INT8, Criteria, numerics_stored
from .quantization import Quantization


@dataclass(frozen=True)
class Verdict:
    """How one pair was judged.

    ``error`` is the error relative to scale; ``bound`` the noise bound it was held to
    (numerics rule only); ``amplification`` the error relative to scale the pair outputs
    over the one its compared inputs carried (None at an input, or when they carried none).
    """

    rule: str
    passed: bool
    error: float
    bound: float | None = None
    amplification: float | None = None

    @property
    def ratio(self) -> float | None:
        """Error over bound: above 1 fails."""
        if self.bound is None:
            return None
        if self.bound <= 0:
            return 0.0 if self.error == 0 else math.inf
        return self.error / self.bound


@dataclass(frozen=True)
class _Carried:
    """What a judged pair hands its consumers: its statistics and its allowed share."""

    groups: Groups
    scale: float
    allowed: float  # factor on its mean square error: 1 within bound, bound^2/error^2 beyond
    # Booleans or integers (outside a quantized comparison): no input of a float layer's
    # noise. A mask or shape its consumers read through uncompared nodes has no rounding
    # error, and its 0/1 values are not on their scale (OpenVINO shares BERT's first mask
    # with layer 1, whose score Add then has the ONNX side's boolean And as nearest
    # compared ancestor: counted, it shrank that bound 24x).
    exact: bool = False


class Judge:
    """Judges pairs in (roughly) topological order; each pair's upstream must come first."""

    def __init__(self, graph_a: Graph, graph_b: Graph, matches: tuple[Match, ...],
                 criteria: Criteria, quantization: Quantization | None = None,
                 discrete: tuple[Collection[str], Collection[str]] = ((), ())) -> None:
        """``discrete``: the names each side's pass produced as booleans or integers
        (``Backend.discrete``), read as each pair is judged."""
        self.graph_a, self.graph_b = graph_a, graph_b
        self.criteria = criteria
        self.quantization = quantization
        self.discrete = discrete
        self.nearest = graph_a.nearest({m.a for m in matches})
        self.carried: dict[str, _Carried] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}

    def tolerance(self, match: Match) -> Tolerance | None:
        """The allclose tolerance of ``match``, None under the numerics rule."""
        return self.criteria.for_pair(match.a, match.b)[1]

    def statistic(self, match: Match) -> str | None:
        """The statistic ``judge`` needs reduced from the pair's values (``--error-stat``
        max, mean, median, quantile); None when the pass of :mod:`parity.metrics` has it."""
        stat = self.criteria.error_stat.for_rule(self.tolerance(match) is None)
        return None if stat in (statistic.RMS, statistic.ELEMWISE) else stat

    def judge(self, match: Match, metrics: Metrics, groups: Groups, shape: tuple[int, ...],
              dtypes: tuple[np.dtype, np.dtype],
              reduced: statistic.Reduced | None = None) -> Verdict:
        """The verdict of one compared pair (and remember it for its consumers);
        ``reduced`` is the chosen statistic of its difference, if :meth:`statistic` names
        one."""
        rule, tol = self.criteria.for_pair(match.a, match.b)
        inputs = [self.carried[u] for u in self.nearest.get(match.a, ())
                  if u in self.carried and not self.carried[u].exact]
        error = metrics.error
        expected, noise, quantized = self._noise(match, metrics, groups, shape, dtypes,
                                                 inputs)
        bound = noise
        if reduced is not None:
            stat = self.criteria.error_stat
            error = _relative(reduced.absolute, metrics)
            bound = noise * statistic.noise_factor(stat.for_rule(tol is None), stat.quantile,
                                                   groups.size)
        if rule == NUMERICS:
            passed = metrics.unmatched == 0 and error <= bound
            stored = self.stored(match)
            rule = NUMERICS_INT8 if quantized else numerics_stored(stored) if stored else rule
        elif reduced is None and self.criteria.error_stat.for_rule(False) == statistic.RMS:
            passed = metrics.unmatched == 0 and tol is not None and (
                metrics.rms_diff <= tol.atol or metrics.rms_diff <= tol.rtol * metrics.rms_b)
        elif reduced is not None and tol is not None:
            passed = metrics.unmatched == 0 and (reduced.absolute <= tol.atol
                                                 or reduced.relative <= tol.rtol)
        else:
            passed = bool(metrics.within)
        # What the pair hands on as noise: all of its error when it passed, else only the
        # noise expected there (not the slack over it, which would compound downstream).
        rms = metrics.error
        allowed = 1.0 if passed or rms <= noise else (expected / rms) ** 2
        self.carried[match.a] = _Carried(groups, metrics.scale, allowed,
                                         self._exact(match))
        self.shapes[match.a] = shape
        return Verdict(rule, passed, error, bound if tol is None else None,
                       _amplification(rms, inputs))

    def stored(self, match: Match) -> str | None:
        """The narrower dtype the pair's two nodes store their weights in, where one of
        them stores them narrower than it computes (an f16-compressed IR)."""
        found = [d for d in (numerics.stored_dtype(self.graph_a, match.a),
                             numerics.stored_dtype(self.graph_b, match.b)) if d]
        return max(found, key=numerics.unit_roundoff, default=None)

    def _exact(self, match: Match) -> bool:
        """Both sides of ``match`` hold booleans or integers, outside a quantized
        comparison (``_Carried.exact``)."""
        return (self.quantization is None and match.a in self.discrete[0]
                and match.b in self.discrete[1])

    def forget(self, name: str) -> None:
        """Drop a pair's statistics once no pair downstream needs them."""
        self.carried.pop(name, None)

    def _noise(self, match: Match, metrics: Metrics, groups: Groups,
               shape: tuple[int, ...], dtypes: tuple[np.dtype, np.dtype],
               inputs: list[_Carried]) -> tuple[float, float, bool]:
        """``(expected, bound, quantized)``: the noise the pair's computation is expected
        to show, the bound it is held to (the same terms with their slack), and whether
        an int8 grid's rounding is part of it."""
        upstream = self.nearest.get(match.a, ())
        in_shape = self.shapes.get(upstream[0]) if upstream else None
        # Either side's op, or the input-to-output size ratio when uncompared reductions
        # (a pooling before a 1x1 conv) lie between the pair and its compared inputs.
        reduction = max(numerics.reduction_length(self.graph_a, match.a, in_shape, shape),
                        numerics.reduction_length(self.graph_b, match.b, in_shape, shape),
                        numerics.size_ratio(in_shape, shape))
        ulps = max(numerics.ulps(self.graph_a, match.a), numerics.ulps(self.graph_b, match.b))
        u = numerics.unit_roundoff(*dtypes)
        wide = numerics.accumulation_roundoff(*dtypes)
        scale = metrics.scale
        floor = numerics.subnormal(*dtypes) / scale if scale > 0 else 0.0
        # Stored in float16 but computed in float32: rounded to storage a few times per
        # value, the sums and functions in float32 (docs/numerics.md#float16).
        rounded = u * numerics.STORAGE_ROUNDINGS if wide < u else 0.0
        # Weights stored narrower than the pair computes (an f16-compressed IR) are each
        # rounded once: about their roundoff relative to the output (docs/numerics.md).
        stored = self.stored(match)
        rounded += numerics.unit_roundoff(stored) if stored else 0.0
        cancelled = _cancellation(self.graph_a, match.a, inputs, reduction, scale)
        local = rounded + wide * (math.sqrt(reduction) * cancelled + ulps) + floor
        if inputs and scale > 0 and (numerics.gated(self.graph_a, match.a)
                                     or numerics.gated(self.graph_b, match.b)):
            # a gated activation errs by ulps of its input where it is far below it
            local += u * ulps * max(i.scale for i in inputs) / scale
        quant, white = 0.0, 0.0
        if self.quantization is not None:
            quant = self.quantization.local(match.a, match.b, scale)
            white = self.quantization.white_gain(match.a, match.b)
        msq = _propagated_msq(groups, inputs, white)
        propagated = math.sqrt(msq) / scale if scale > 0 else 0.0
        if _product(self.graph_a, match.a, inputs):
            propagated = max(propagated, _product_relative(inputs))
        # A gain measured on few values is itself uncertain (about 1/sqrt(n) relative).
        propagated *= 1.0 + 2.0 / math.sqrt(max(groups.size, 1))
        # On an int8 value the grid's rounding dominates, and it is modelled exactly (its
        # RMS is known, its gain bounded by the white-noise one): the smaller slack.
        slack = numerics.QUANT_SLACK if quant > 0 else numerics.PROPAGATION_SLACK
        return (propagated + local + quant,
                slack * propagated + numerics.LOCAL_SLACK * local
                + numerics.QUANT_SLACK * quant, quant > 0)


def _propagated_msq(out: Groups, inputs: list[_Carried], white_gain: float = 0.0) -> float:
    """Mean square error the inputs' noise becomes at the output of the layer.

    The layer's gain on noise is estimated from the reference, out over in: its spread
    per channel when every input has the output's channels (BatchNorm, activations,
    Add: exact for a per-channel affine map), over the whole tensor otherwise (Conv,
    MatMul, Concat, pooling), where the larger of the spread and mean-square ratios is
    taken. ``white_gain`` (a quantized comparison: the gain on white noise) is a floor.
    """
    if not inputs:
        return 0.0
    same = out.per_channel and all(
        i.groups.per_channel and i.groups.var_b.size == out.var_b.size
        and i.groups.size == out.size for i in inputs)
    if same:
        var_in = sum(i.groups.var_b for i in inputs)
        msq_in = sum(i.allowed * i.groups.msq_diff for i in inputs)
        gain = np.divide(out.var_b, var_in, out=np.ones_like(out.var_b), where=var_in > 0)
        gain = np.maximum(gain, white_gain)
        return float((gain * msq_in * out.count).sum() / max(out.count.sum(), 1.0))
    total = sum(i.groups.size for i in inputs) or 1
    var_in = sum(i.groups.size * i.groups.mean_var() for i in inputs) / total
    square_in = sum(i.groups.size * i.groups.mean_square() for i in inputs) / total
    msq_in = sum(i.groups.size * i.allowed * i.groups.mean_msq() for i in inputs) / total
    # The larger of the gains on the inputs' fluctuation and on their whole values: a
    # layer mixing channels may amplify either, and rounding noise has both.
    gain = max(out.mean_var() / var_in if var_in > 0 else 1.0,
               out.mean_square() / square_in if square_in > 0 else 1.0, white_gain)
    return gain * msq_in


def _product(graph: Graph, name: str, inputs: list[_Carried]) -> bool:
    """Whether node ``name`` multiplies two compared activations elementwise."""
    return len(inputs) == 2 and family(graph.op_of(name)) == "mul"


def _product_relative(inputs: list[_Carried]) -> float:
    """The relative error a product of two activations carries: its inputs' relative
    errors add (``d(xy)/xy = dx/x + dy/y``), whatever their scales. The size-weighted gain
    of :func:`_propagated_msq` mixes the two: ``x * rsqrt(mean(x^2))`` (an RMSNorm) has a
    1x16x32 ``x`` around 0.02 and a 1x16x1 factor around 50, and is not a gain of 1/100
    on ``x``'s error."""
    return math.sqrt(sum(i.allowed * i.groups.mean_msq() / i.scale ** 2
                         for i in inputs if i.scale > 0))


def _relative(absolute: float, metrics: Metrics) -> float:
    """A statistic of ``|a - b|`` over the pair's scale (infinite where values disagree)."""
    if metrics.unmatched:
        return math.inf
    scale = metrics.scale
    if scale > 0:
        return absolute / scale
    return 0.0 if absolute == 0 else math.inf


def _cancellation(graph: Graph, name: str, inputs: list[_Carried], reduction: int,
                  scale: float) -> float:
    """How far a product of two activations (attention's q.k^T, its weights times v) fell
    below the size of its terms: ``sqrt(K) * rms(a) * rms(b)`` over the output's RMS, at
    least 1. Its sums round at the size of their terms, so where the terms cancel (MobileViT's
    scores, 19x below their terms) the rounding is that much larger against the output."""
    if len(inputs) != 2 or scale <= 0 or family(graph.op_of(name)) != "linear":
        return 1.0
    terms = math.sqrt(reduction) * inputs[0].scale * inputs[1].scale
    return max(1.0, terms / scale)


def _amplification(error: float, inputs: list[_Carried]) -> float | None:
    """Error relative to scale out over the (size-weighted) one the inputs carried."""
    if not inputs:
        return None
    total = sum(i.groups.size for i in inputs) or 1
    msq = sum(i.groups.size * i.groups.mean_msq() for i in inputs) / total
    scale_sq = sum(i.groups.size * i.scale ** 2 for i in inputs) / total
    carried = math.sqrt(msq / scale_sq) if scale_sq > 0 else 0.0
    if carried == 0:
        return None if error == 0 else math.inf
    return error / carried
