"""docs/report.schema.json against real reports: the SmallCNN in TorchScript compared with
its correct ONNX export and with one whose BatchNorm eps is wrong, on one and on several
inputs, under the numerics rule and under tolerances; and the saved run's report.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES, ROOT

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
TORCH = FIXTURES / "smallcnn.pt"


def test_the_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    pytest.importorskip("torch", reason="parity[torch] not installed")
    import parity

    good, bad = FIXTURES / "smallcnn.onnx", FIXTURES / "smallcnn_bad_eps.onnx"
    made = {
        "passing": parity.compare(TORCH, good),
        "failing": parity.compare(TORCH, bad),
        "passing, 3 inputs": parity.compare(TORCH, good, samples=3),
        "failing, 3 inputs": parity.compare(TORCH, bad, samples=3),
        "allclose with an override": parity.compare(TORCH, bad, atol=1e-4,
                                                    rtol=["layer2*=1e-2"]),
        "quantile": parity.compare(TORCH, bad, error_stat="quantile", error_quantile=0.9),
    }
    # through JSON text, as a consumer reads it (tuples become lists, no NaN)
    return {name: json.loads(json.dumps(r.to_dict(), allow_nan=False))
            for name, r in made.items()}


def _errors(data: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in VALIDATOR.iter_errors(data)]


def test_real_reports_validate(reports):
    for name, data in reports.items():
        assert _errors(data) == [], name
    assert reports["passing"]["ok"] and not reports["failing"]["ok"]
    assert reports["failing"]["first_divergence"]["a"] == "layer2.0.bn2"
    assert len(reports["failing, 3 inputs"]["samples"]) == 3
    worst = {p["worst_input"] for p in reports["failing, 3 inputs"]["pairs"]}
    assert worst <= set(reports["failing, 3 inputs"]["samples"]) and None not in worst
    rules = {p["rule"] for p in reports["allclose with an override"]["pairs"]}
    assert rules == {"allclose", "allclose layer2*"}


def test_the_schema_names_every_key_a_report_has(reports):
    """The schema lists every key of the real reports (and requires them), so a key added
    to the JSON without the schema fails here."""
    props = SCHEMA["properties"]
    data = reports["failing, 3 inputs"]
    objects = [
        ("report", data, SCHEMA),
        ("pair", data["pairs"][0], SCHEMA["$defs"]["pair"]),
        ("tolerance", data["tolerance"], props["tolerance"]),
        ("coverage", data["coverage"], props["coverage"]),
        ("side", data["a"], SCHEMA["$defs"]["side"]),
        ("first_divergence", data["first_divergence"], props["first_divergence"]["oneOf"][1]),
        ("hint", data["hints"][0], props["hints"]["items"]),
    ]
    for name, value, schema in objects:
        assert set(value) == set(schema["properties"]), name
        assert set(schema["required"]) == set(schema["properties"]), name


def test_bad_reports_do_not_validate(reports):
    broken = json.loads(json.dumps(reports["failing"]))
    broken["pairs"][3]["status"] = "maybe"
    del broken["coverage"]["min"]
    broken["version"] = 3
    messages = "\n".join(_errors(broken))
    assert "pairs/3/status" in messages and "'min' is a required property" in messages
    assert "version: 2 was expected" in messages


def test_saved_run_report_validates(tmp_path: Path):
    pytest.importorskip("torch", reason="parity[torch] not installed")
    from click.testing import CliRunner

    from parity.cli import cli

    run = tmp_path / "run"
    bad = FIXTURES / "smallcnn_bad_eps.onnx"
    result = CliRunner().invoke(cli, ["compare", str(TORCH), str(bad),
                                      "--save-tensors", str(run), "-q"])
    assert result.exit_code == 1, result.output
    assert _errors(json.loads((run / "report.json").read_text())) == []
