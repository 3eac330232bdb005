"""The verdict rules on their own (numpy only): explicit tolerances are numpy allclose, the
numerics rule follows error through a layer's gain and fails only where error is added."""

from __future__ import annotations

import numpy as np
import pytest

from parity.align import Match
from parity.align.mapping_file import read_mapping
from parity.errors import UsageError
from parity.graph import Graph, Node, TensorSpec
from parity.metrics import Tolerance, measure
from parity.verdict import Criteria, Judge, Override, parse_tolerance_option


def test_tolerance_options_are_global_values_or_globs():
    assert parse_tolerance_option("--atol", ["1e-4", "conv*=1e-3"]) == (1e-4, {"conv*": 1e-3})
    assert parse_tolerance_option("--atol", 0.5) == (0.5, {})
    assert parse_tolerance_option("--atol", {"fc": 2}) == (None, {"fc": 2.0})
    for bad in (["x"], ["conv=abc"], ["-1"], ["inf"]):
        with pytest.raises(UsageError, match="--atol"):
            parse_tolerance_option("--atol", bad)


def test_criteria_pick_the_rule_of_each_pair():
    assert Criteria().for_pair("conv1", "Conv_0") == ("numerics", None)
    both = Criteria.from_options(atol=["1e-4"])
    assert both.for_pair("a", "b") == ("allclose", Tolerance(1e-4, 1e-5))
    some = Criteria.from_options(atol=["layer2.*=1e-2"], rtol=["layer2.*=0"])
    assert some.tolerance is None
    assert some.for_pair("layer2.0.bn", "x") == ("allclose layer2.*", Tolerance(1e-2, 0.0))
    assert some.for_pair("x", "layer2.conv") == ("allclose layer2.*", Tolerance(1e-2, 0.0))
    assert some.for_pair("layer1.bn", "y") == ("numerics", None)
    assert some.overrides == (Override("layer2.*", 1e-2, 0.0),)
    assert "numerics" in some.text() and "layer2.*: atol=0.01 rtol=0" in some.text()


@pytest.mark.parametrize("seed", range(6))
def test_explicit_tolerance_is_numpy_allclose_exactly(seed):
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((2, 3, 8, 8)).astype(np.float32) * 10.0 ** rng.uniform(-3, 3)
    a = b + rng.standard_normal(b.shape).astype(np.float32) * 10.0 ** rng.uniform(-8, -2)
    if seed % 2:
        a.flat[3] = b.flat[3] = np.inf  # equal infinities agree in allclose
    atol, rtol = 10.0 ** rng.uniform(-7, -2), 10.0 ** rng.uniform(-7, -2)
    assert measure(a, b, Tolerance(atol, rtol))[0].within == np.allclose(a, b, rtol, atol)
    a.flat[5] = np.nan
    assert measure(a, b, Tolerance(atol, rtol))[0].within is False


# conv -> bn -> relu, as a 0-255 image makes it: conv outputs with a large per-channel mean
GRAPH = Graph(
    nodes=(Node("conv", "Conv", ("x",), {"kernel": (3, 3), "group": 1}),
           Node("bn", "BatchNormalization", ("conv",)),
           Node("relu", "Relu", ("bn",))),
    inputs=(TensorSpec("x", (1, 3, 16, 16)),),
)
MATCHES = tuple(Match(n, n, "exact") for n in ("x", "conv", "bn", "relu"))


def _judge(values: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, object]:
    judge = Judge(GRAPH, GRAPH, MATCHES, Criteria())
    verdicts = {}
    for match in MATCHES:
        a, b = values[match.a]
        metrics, groups = measure(a, b)
        verdicts[match.a] = judge.judge(match, metrics, groups, b.shape, (a.dtype, b.dtype))
    return verdicts


def _float32_chain(bn_bug: float = 0.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Float32 rounding noise on conv outputs around 1e3; BatchNorm takes the mean away."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (1, 3, 16, 16)).astype(np.float32)
    conv = (1000.0 + 10.0 * rng.standard_normal((1, 8, 16, 16))).astype(np.float64)
    noise = conv * 2.0 ** -24 * rng.standard_normal(conv.shape) * 3.0  # ~sqrt(27) u
    conv_a, conv_b = (conv + noise).astype(np.float32), conv.astype(np.float32)
    scale = (1.0 / 10.0) * (1.0 + bn_bug)
    bn_a = ((conv_a.astype(np.float64) - 1000.0) * scale).astype(np.float32)
    bn_b = ((conv_b.astype(np.float64) - 1000.0) / 10.0).astype(np.float32)
    return {"x": (x, x.copy()), "conv": (conv_a, conv_b), "bn": (bn_a, bn_b),
            "relu": (np.maximum(bn_a, 0), np.maximum(bn_b, 0))}


def test_error_amplified_by_mean_removal_is_noise():
    verdicts = _judge(_float32_chain())
    bn = verdicts["bn"]
    assert bn.amplification > 30  # relative error grows ~mean/spread = 100 through the BN
    assert all(v.passed for v in verdicts.values()), verdicts
    assert bn.ratio < 0.5


def test_a_jump_fails_at_its_layer_and_everything_after_it():
    verdicts = _judge(_float32_chain(bn_bug=1e-3))
    assert verdicts["conv"].passed and not verdicts["bn"].passed
    assert not verdicts["relu"].passed  # its input is wrong: carried error beyond bound
    assert verdicts["bn"].ratio > 10


def test_mapping_file_holds_per_node_tolerances(tmp_path):
    path = tmp_path / "map.toml"
    path.write_text('"conv1" = "Conv_0"\n[atol]\n"layer2.*" = 1e-3\n[rtol]\n"fc" = 0\n')
    mapping = read_mapping(path)
    assert dict(mapping) == {"conv1": "Conv_0"}
    assert mapping.tolerance_options("atol") == ["layer2.*=0.001"]
    assert mapping.tolerance_options("rtol") == ["fc=0"]
    path.write_text('[atol]\n"x" = "big"\n')
    with pytest.raises(UsageError, match=r"\[atol\] must be a table"):
        read_mapping(path)


# -- NaN, infinities and saturated values (attention masks) ---------------------------------

def _mask(fill: float, dtype: type = np.float32, noise: float = 0.0) -> np.ndarray:
    """A (1, 2, 8, 8) tensor of scores whose upper triangle is ``fill`` (a causal mask)."""
    rng = np.random.default_rng(3)
    scores = (rng.standard_normal((1, 2, 8, 8)) * (1.0 + noise)).astype(dtype)
    scores[..., np.triu_indices(8, 1)[0], np.triu_indices(8, 1)[1]] = fill
    return scores


def _verdict(a: np.ndarray, b: np.ndarray):
    graph = Graph(nodes=(Node("where", "Where", ("x",)),), inputs=(TensorSpec("x", a.shape),))
    judge = Judge(graph, graph, (Match("where", "where", "exact"),), Criteria())
    metrics, groups = measure(a, b)
    return metrics, judge.judge(Match("where", "where", "exact"), metrics, groups, b.shape,
                                (a.dtype, b.dtype))


FMIN32 = float(np.finfo(np.float32).min)


@pytest.mark.parametrize(("fill_a", "fill_b"), [
    (FMIN32, FMIN32), (-np.inf, FMIN32), (-np.inf, -np.inf), (np.nan, np.nan)])
def test_a_mask_filled_alike_passes_judged_on_its_ordinary_values(fill_a, fill_b):
    metrics, verdict = _verdict(_mask(fill_a), _mask(fill_b))
    assert verdict.passed and verdict.error == 0.0 and metrics.unmatched == 0
    assert metrics.scale == pytest.approx(1.0, rel=0.3)  # the scores' scale, not 3e38


def test_a_float16_mask_agrees_with_a_float32_one():
    a = _mask(float(np.finfo(np.float16).min), np.float16)
    metrics, verdict = _verdict(a, _mask(FMIN32).astype(np.float32))
    assert verdict.passed and metrics.unmatched == 0


def test_masked_scores_that_differ_fail_as_they_would_unmasked():
    metrics, verdict = _verdict(_mask(FMIN32, noise=1e-3), _mask(FMIN32))
    assert not verdict.passed and metrics.unmatched == 0
    assert verdict.error == pytest.approx(1e-3 / (1 + 1e-3), rel=1e-3)


@pytest.mark.parametrize(("fill_a", "fill_b"), [
    (FMIN32, -1.0), (-np.inf, np.inf), (FMIN32, -FMIN32), (np.nan, FMIN32), (np.nan, 0.0)])
def test_a_mask_that_differs_fails_with_its_count(fill_a, fill_b):
    metrics, verdict = _verdict(_mask(fill_a), _mask(fill_b))
    assert not verdict.passed and verdict.error == np.inf
    assert metrics.unmatched == 2 * 28  # the masked upper triangle of both heads


def test_a_mask_moved_by_one_place_fails():
    a, b = _mask(FMIN32), _mask(FMIN32)
    a[0, 0, 0, 1] = 0.5  # one masked place left open on side A
    metrics, verdict = _verdict(a, b)
    assert not verdict.passed and metrics.unmatched == 1


def test_saturated_values_keep_allclose_exact():
    a, b = _mask(-np.inf), _mask(FMIN32)
    assert measure(a, b, Tolerance())[0].within is np.allclose(a, b) is False
    same = _mask(FMIN32)
    assert measure(same, same.copy(), Tolerance())[0].within is True


# -- gated activations: error in ulps of the input ---------------------------------------

def _silu_verdicts(x: np.ndarray, b_of: object) -> object:
    graph = Graph(nodes=(Node("silu", "Silu", ("x",)),), inputs=(TensorSpec("x", x.shape),))
    matches = (Match("x", "x", "input"), Match("silu", "silu", "exact"))
    judge = Judge(graph, graph, matches, Criteria())
    metrics, groups = measure(x, x)
    judge.judge(matches[0], metrics, groups, x.shape, (x.dtype, x.dtype))
    x64 = x.astype(np.float64)
    a = (x64 / (1.0 + np.exp(-x64))).astype(np.float32)
    b = b_of(x64).astype(np.float32)
    metrics, groups = measure(a, b)
    return judge.judge(matches[1], metrics, groups, a.shape, (a.dtype, b.dtype))


def test_silu_far_below_its_input_is_judged_in_ulps_of_the_input():
    """SiLU of -17 is -7e-7: a tanh-based sigmoid (0.5 + 0.5 tanh(x/2)) errs by ulps of 1,
    a 20% error of the output that is rounding, not a bug (EfficientNet's SE on 0-255)."""
    x = np.float32(-17.0 + np.random.default_rng(0).standard_normal((1, 8, 1, 1)))
    tanh_based = _silu_verdicts(x, lambda v: v * (0.5 + 0.5 * np.tanh(
        (v / 2).astype(np.float32)).astype(np.float32)))
    assert tanh_based.passed and tanh_based.error > 1e-3


def test_silu_converted_as_relu_still_fails():
    x = np.float32(2.0 * np.random.default_rng(1).standard_normal((1, 8, 4, 4)))
    relu = _silu_verdicts(x, lambda v: np.maximum(v, 0.0))
    assert not relu.passed and relu.ratio > 100
