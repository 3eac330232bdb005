"""One .onnx, several runtimes: ONNX Runtime vs OpenCV DNN, the onnx reference evaluator
and OpenVINO (--b-backend), on models exported by torch.onnx."""

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")
import deploy_models  # noqa: E402

import parity  # noqa: E402
from parity.api import open_model  # noqa: E402
from parity.cli import cli  # noqa: E402

RUNTIMES = ["opencv", "onnxref", "openvino"]


@pytest.fixture(scope="session")
def onnx_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runtimes")
    return {
        "legacy": deploy_models.export_onnx(deploy_models.build(), folder / "legacy.onnx"),
        "dynamo": deploy_models.export_onnx(deploy_models.build(), folder / "dynamo.onnx",
                                            dynamo=True),
        "ceil_avgpool": deploy_models.export_onnx(deploy_models.build(ceil_avgpool=True),
                                                  folder / "ceil_avgpool.onnx"),
    }


def _skip_without(backend):
    needs = {"opencv": "cv2", "onnxref": "onnx.reference", "openvino": "openvino"}[backend]
    pytest.importorskip(needs, reason=f"the {backend} backend's framework is not installed")


@pytest.mark.slow
@pytest.mark.parametrize("export", ["legacy", "dynamo"])
@pytest.mark.parametrize("backend", RUNTIMES)
def test_a_correct_onnx_agrees_in_every_runtime(onnx_models, backend, export):
    _skip_without(backend)
    report = parity.compare(onnx_models[export], onnx_models[export], b_backend=backend,
                            inputs=deploy_models.example())
    assert report.ok, report.first_divergence
    assert min(report.coverage) >= 0.95, (report.unmatched_a, report.unmatched_b)
    model = open_model(onnx_models[export], backend=backend)
    assert model.name == backend


@pytest.mark.parametrize("backend", RUNTIMES)
def test_every_node_comes_from_one_pass(onnx_models, backend):
    _skip_without(backend)
    model = open_model(onnx_models["legacy"], backend=backend)
    names = [node.name for node in model.graph]
    values = model.run({"input": deploy_models.example()}, names)
    assert list(values) == names
    reference = open_model(onnx_models["legacy"])  # ONNX Runtime
    final = model.graph.outputs[0]
    np.testing.assert_allclose(values[final], reference.run({"input": deploy_models.example()},
                                                            [final])[final], atol=1e-5)


def test_works_in_onnxruntime_wrong_in_opencv(onnx_models, tmp_path):
    """OpenCV DNN 4.x pools a ceil-mode AveragePool that excludes padding differently from
    ONNX Runtime (and from the reference evaluator): parity points at that node."""
    _skip_without("opencv")
    path = onnx_models["ceil_avgpool"]
    report = parity.compare(path, path, b_backend="opencv", inputs=deploy_models.example())
    assert not report.ok
    first = report.first_divergence
    assert open_model(path).graph.op_of(first.a) == "AveragePool", first
    code, found = deploy_models.cli_compare(path, path, "--b-backend", "opencv")
    assert code == 1 and deploy_models.coverage(found) >= 0.95
    assert found["first_divergence"]["a"] == first.a
    assert parity.compare(path, path, b_backend="onnxref", inputs=deploy_models.example()).ok


def test_cli_chooses_the_runtime(onnx_models):
    path = str(onnx_models["legacy"])
    runner = CliRunner()
    for backend in ("opencv", "onnxref"):
        result = runner.invoke(cli, ["compare", path, path, "--b-backend", backend])
        assert result.exit_code == 0, result.output
        assert f"[{backend}]" in result.output
        code, found = deploy_models.cli_compare(path, path, "--b-backend", backend)
        assert code == 0 and deploy_models.coverage(found) >= 0.95
    wrong = runner.invoke(cli, ["compare", path, path, "--a-backend", "keras"])
    assert wrong.exit_code == 2
    assert "the keras backend does not open this model" in wrong.output
    assert "backends that do: onnxrt, openvino, onnxref, opencv" in wrong.output


def test_the_reference_evaluator_finds_a_lost_eps_at_its_layer(onnx_models):
    """``parity compare model.onnx bad.onnx --b-backend onnxref``: the converted model run
    by the reference evaluator; its BatchNorm (folded into the stem conv) lost its eps."""
    _skip_without("onnxref")
    wrong = deploy_models.build()
    wrong.bn.eps = 1e-2
    bad = deploy_models.export_onnx(wrong, onnx_models["legacy"].with_name("bad_eps.onnx"))
    code, found = deploy_models.cli_compare(onnx_models["legacy"], bad, "--b-backend", "onnxref")
    assert code == 1 and deploy_models.coverage(found) == 1.0
    assert found["first_divergence"]["a"] == "/stem/Conv", found["first_divergence"]
