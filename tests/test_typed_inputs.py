"""Inputs of every dtype on every backend: declared dtypes win, undeclared ones are kept,
and random inputs are typed (ids within the table, 0/1 masks, --val-range)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from parity.cli import cli
from parity.errors import InputError, UsageError
from parity.graph import Graph, TensorSpec
from parity.inputs import bind, parse_val_range, random_arrays, random_rules

IDS = TensorSpec("input_ids", (1, 8), "int64", (0, 50))
MASK = TensorSpec("attention_mask", (1, 8), "int64")
UNDECLARED = TensorSpec("input_ids", None, None)


def _graph(*specs: TensorSpec) -> Graph:
    return Graph((), specs, source="model")


def test_random_ids_stay_within_the_table_and_masks_are_binary():
    ids, mask = (array for _, array in random_arrays([IDS, MASK], [], seed=0))
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 50
    assert mask.dtype == np.int64 and set(np.unique(mask)) <= {0, 1}


def test_random_takes_dtype_range_and_shape_from_the_model_that_declares_them():
    rules = random_rules([UNDECLARED, TensorSpec("attention_mask", None, None)], [IDS, MASK])
    assert [(r.dtype, r.kind, r.shape) for r in rules] == [
        ("int64", "ids", (1, 8)), ("int64", "binary", (1, 8))]
    assert (rules[0].low, rules[0].high) == (0, 50)


def test_random_bool_input_is_boolean():
    (_, array), = random_arrays([TensorSpec("keep", (2, 3), "bool")], [], seed=1)
    assert array.dtype == np.bool_


def test_random_integer_without_a_table_needs_a_val_range():
    spec = TensorSpec("positions", (1, 4), "int32")
    with pytest.raises(UsageError, match=r"'positions' is int32 .*--val-range LO,HI"):
        random_rules([spec], [])
    (_, array), = random_arrays([spec], [], seed=0, val_range=(3, 7))
    assert array.dtype == np.int32 and array.min() >= 3 and array.max() < 7


def test_random_floats_within_val_range():
    spec = TensorSpec("x", (1, 100), "float32")
    (_, array), = random_arrays([spec], [], seed=0, val_range=(0, 255))
    assert array.dtype == np.float32 and array.min() >= 0 and array.max() < 255
    assert array.max() > 100  # uniform over the range, not normal


@pytest.mark.parametrize("text", ["1", "a,b", "5,5", "1,nan"])
def test_val_range_text_is_checked(text):
    with pytest.raises(UsageError, match="--val-range"):
        parse_val_range(text)


def test_undeclared_dtype_keeps_the_array_dtype():
    ids = np.arange(8, dtype=np.int64).reshape(1, 8)
    feeds = bind(_graph(UNDECLARED), [("input_ids", ids)], "x.npz")
    assert feeds.arrays["input_ids"].dtype == np.int64


def test_undeclared_dtype_takes_the_other_models_declared_one():
    pixels = np.ones((1, 3, 4, 4), np.int64)
    declared = _graph(TensorSpec("x", (1, 3, 4, 4), "float32"))
    feeds = bind(_graph(TensorSpec("x", None, None)), [(None, pixels)], "x.npy", declared)
    assert feeds.arrays["x"].dtype == np.float32


def test_declared_dtype_wins_when_values_survive_the_cast():
    floats = np.arange(8, dtype=np.float32).reshape(1, 8)
    assert bind(_graph(IDS), [(None, floats)], "x.npy").arrays["input_ids"].dtype == np.int64
    ints = np.ones((1, 8), np.int32)
    spec = TensorSpec("x", (1, 8), "float32")
    assert bind(_graph(spec), [(None, ints)], "x.npy").arrays["x"].dtype == np.float32


@pytest.mark.parametrize("array, words", [
    (np.full((1, 8), 0.5, np.float32), "fractional"),
    (np.full((1, 8), 2**40, np.int64), "int32"),
])
def test_values_that_a_cast_would_change_are_refused(array, words):
    spec = TensorSpec("input_ids", (1, 8), "int32")
    with pytest.raises(InputError, match=words):
        bind(_graph(spec), [(None, array)], "x.npy")


def test_boolean_input_refuses_values_other_than_0_and_1():
    spec = TensorSpec("keep", (1, 8), "bool")
    with pytest.raises(InputError, match="0..1"):
        bind(_graph(spec), [(None, np.full((1, 8), 3))], "x.npy")
    kept = bind(_graph(spec), [(None, np.ones((1, 8), np.int64))], "x.npy").arrays["keep"]
    assert kept.dtype == np.bool_


# -- a real BERT (transformers, random weights): int64 ids and a padded mask -----------------

pytest.importorskip("transformers", reason="the test extra (transformers) is not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402

TORCH_FORMS = ["pt", "pt2"]


def _output_pair(report: Any, onnx_path: str) -> Any:
    output = open_model(onnx_path).graph.outputs[0]
    return next(p for p in report.pairs if output in (p.a, p.b))


@pytest.mark.slow
@pytest.mark.parametrize("form", TORCH_FORMS)
@pytest.mark.parametrize("exporter", ["onnx_legacy", "onnx_dynamo"])
def test_bert_onnx_vs_torch_with_padded_mask_file(real_corpus, form, exporter):
    onnx_path = real_corpus.export("bert", exporter)
    inputs = real_corpus.inputs_file("bert")
    assert np.load(inputs)["attention_mask"].min() == 0  # padding present
    result = CliRunner().invoke(cli, ["compare", onnx_path, real_corpus.export("bert", form),
                                      "--inputs", str(inputs), "--format", "json"])
    assert result.exit_code in (0, 1), result.output[-2000:]
    report = parity.compare(onnx_path, real_corpus.export("bert", form), inputs=inputs)
    assert "int64" in report.b.inputs and "-> float32" not in report.b.inputs
    assert _output_pair(report, onnx_path).status == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("form", TORCH_FORMS)
def test_bert_random_inputs_are_typed_ids_and_mask(real_corpus, form):
    onnx_path = real_corpus.export("bert", "onnx_dynamo")
    result = CliRunner().invoke(cli, ["compare", onnx_path, real_corpus.export("bert", form),
                                      "--random", "--seed", "3"])
    assert result.exit_code in (0, 1), result.output[-2000:]
    assert "input_ids ids [0, 100)" in result.output
    assert "attention_mask 0/1" in result.output
    report = parity.compare(onnx_path, real_corpus.export("bert", form), seed=3)
    assert _output_pair(report, onnx_path).status == "ok"


@pytest.mark.slow
def test_run_and_api_take_val_range(real_corpus, tmp_path):
    onnx_path = real_corpus.export("resnet", "onnx_dynamo")
    result = CliRunner().invoke(cli, ["run", onnx_path, "--node",
                                      open_model(onnx_path).graph.outputs[0],
                                      "--val-range", "0,255"])
    assert result.exit_code == 0, result.output
    assert "uniform [0, 255)" in result.output
    report = parity.compare(onnx_path, real_corpus.export("resnet", "pt2"), val_range=(0, 255))
    assert "uniform [0, 255)" in report.a.inputs


@pytest.mark.slow
def test_pytest_plugin_fixture_passes_val_range(real_corpus, parity_compare):
    report = parity_compare(real_corpus.export("bert", "onnx_dynamo"),
                            real_corpus.export("bert", "pt2"), val_range=(0, 1))
    assert "input_ids ids [0, 100)" in report.a.inputs
