"""`parity sweep`: a 12-pair matrix run locally and on a Ray instance this test starts,
both giving the same summary, which names the worst pair; pytest runs a sweep file too."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from parity.cli import cli
from parity.sweep import Summary, read_sweep, run_pairs

pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# 2 references x 3 exports x 2 inputs: TorchScript and its ONNX exports, and the ONNX
# export as the reference of the folded and the broken-epsilon ones and of TorchScript.
SWEEP = f"""
atol = 1e-4
rtol = 1e-4

[models.torchscript]
reference = "{FIXTURES / 'smallcnn.pt'}"
exports = {{ onnx = "{FIXTURES / 'smallcnn.onnx'}", folded = "{FIXTURES / 'smallcnn_folded.onnx'}", bad_eps = "{FIXTURES / 'smallcnn_bad_eps.onnx'}" }}

[models.onnx]
reference = "{FIXTURES / 'smallcnn.onnx'}"
exports = {{ torchscript = "{FIXTURES / 'smallcnn.pt'}", folded = "{FIXTURES / 'smallcnn_folded.onnx'}", bad_eps = "{FIXTURES / 'smallcnn_bad_eps.onnx'}" }}
atol = 1e-3

[inputs.seed0]
seed = 0
[inputs.seed1]
seed = 1
"""  # noqa: E501


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "conversions.sweep.toml"
    path.write_text(SWEEP)
    return path


@pytest.fixture(scope="module")
def local_result(sweep_file):
    """The CLI run on two local processes."""
    output = sweep_file.parent / "local"
    result = CliRunner().invoke(cli, ["sweep", str(sweep_file), "--jobs", "2", "--output",
                                      str(output), "--format", "json"])
    return result, output


def test_sweep_file_expands_to_the_matrix(sweep_file):
    pairs = read_sweep(sweep_file).pairs
    assert len(pairs) == 12
    assert pairs[0].id == "torchscript/onnx/seed0" and pairs[-1].id == "onnx/bad_eps/seed1"
    assert pairs[-1].settings == {"atol": 1e-3, "rtol": 1e-4}


def test_local_sweep_writes_summary_and_a_saved_run_per_pair(local_result):
    result, output = local_result
    assert result.exit_code == 1, result.output
    summary = json.loads((output / "summary.json").read_text())
    assert summary["counts"] == {"error": 0, "diverged": 4, "low_coverage": 0, "ok": 8}
    assert summary["engine"] == "2 local processes" and summary["pairs_per_minute"] > 0
    by_id = {p["id"]: p for p in summary["pairs"]}
    broken = by_id["torchscript/bad_eps/seed0"]
    assert broken["status"] == "diverged" and broken["hint"] == "bn_eps_mismatch"
    assert broken["first_a"] == "layer2.0.bn2" and broken["first_max_abs"] > 1e-2
    assert by_id["onnx/folded/seed1"]["status"] == "ok"
    assert summary["worst"] in {i for i, p in by_id.items() if p["status"] == "diverged"}
    assert summary["worst"] in (output / "summary.md").read_text()
    saved = output / "pairs" / "torchscript__bad_eps__seed0"
    report = CliRunner().invoke(cli, ["report", str(saved), "--format", "json"])
    assert report.exit_code == 1
    assert json.loads(report.output)["first_divergence"]["a"] == "layer2.0.bn2"


@pytest.mark.slow
def test_ray_sweep_gives_the_same_summary(sweep_file, local_result):
    ray = pytest.importorskip("ray")
    sweep = read_sweep(sweep_file)
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        outcomes = list(run_pairs(sweep.pairs, ray_address=""))
        on_ray = Summary.of(sweep, outcomes, "Ray", 1.0)
        # The CLI as a separate driver, connecting to the instance this test started.
        output = sweep_file.parent / "ray"
        cli_run = subprocess.run(
            [sys.executable, "-c", "from parity.cli import main; main()", "sweep",
             str(sweep_file), "--output", str(output), "--format", "json",
             "--ray", context.address_info["address"]],
            capture_output=True, text=True, timeout=600)
    finally:
        ray.shutdown()
    local = json.loads((local_result[1] / "summary.json").read_text())
    timeless = {k: v for k, v in local.items() if k not in ("engine", "seconds",
                                                             "pairs_per_minute")}
    for pair in timeless["pairs"]:
        del pair["seconds"]
    assert on_ray.to_dict(timings=False) == timeless
    assert cli_run.returncode == 1, cli_run.stderr
    from_cli = json.loads((output / "summary.json").read_text())
    assert from_cli["engine"].startswith("Ray (") and from_cli["worst"] == local["worst"]
    assert [p["status"] for p in from_cli["pairs"]] == [p["status"] for p in local["pairs"]]


def test_pytest_runs_a_sweep_file_as_one_test_per_pair(sweep_file):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(sweep_file),
         "-k", "seed0"], capture_output=True, text=True, cwd=sweep_file.parent, timeout=600)
    assert "2 failed, 4 passed" in result.stdout, result.stdout
    assert "torchscript/bad_eps/seed0: models diverge" in result.stdout


@pytest.mark.parametrize("content, message", [
    ("[models.m]\nexports = { x = 'b.onnx' }\n", "[models.m] needs reference"),
    ("[models.m]\nreference = 'a.pt'\n", "[models.m] needs exports"),
    ("[models.m]\nreference = 'a.pt'\nexports = { x = 'b.onnx' }\ninputs = ['nope']\n",
     "names no [inputs] entry ['nope']"),
    ("atol = -1\n[models.m]\nreference = 'a.pt'\nexports = { x = 'b.onnx' }\n",
     "atol must be a non-negative number"),
    ("[modles.m]\n", "unknown key 'modles'"),
    ("[models\n", "not valid TOML"),
])
def test_bad_sweep_file_is_one_line_exit_2(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    result = CliRunner().invoke(cli, ["sweep", str(path)])
    assert result.exit_code == 2
    assert message in result.output and str(path) in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_local_worker_count_follows_cpus_memory_and_jobs(sweep_file, monkeypatch):
    from parity.errors import UsageError
    from parity.sweep import engines

    pairs = read_sweep(sweep_file).pairs
    need = engines.pair_memory(pairs[0])
    assert need > engines._BASE_BYTES  # the model files count
    monkeypatch.setattr(engines.os, "sched_getaffinity", lambda _: {0, 1, 2, 3})
    monkeypatch.setattr(engines, "available_memory", lambda: 100 * need)
    assert engines.local_workers(pairs) == 4
    monkeypatch.setattr(engines, "available_memory", lambda: 2 * need + 1)
    assert engines.local_workers(pairs) == 2  # memory for two pairs at a time
    monkeypatch.setattr(engines, "available_memory", lambda: 0)
    assert engines.local_workers(pairs) == 1
    assert engines.local_workers(pairs, jobs=3) == 3 and engines.local_workers(pairs[:2], 8) == 2
    with pytest.raises(UsageError):
        engines.local_workers(pairs, jobs=0)


def test_a_local_worker_runs_its_share_of_the_cpus():
    """Thread pools sized as Ray sizes a task's, unless the environment says otherwise."""
    probe = ("import os\nos.environ.pop('OMP_NUM_THREADS', None)\n"
             "os.environ['MKL_NUM_THREADS'] = '7'\n"
             "from parity.sweep.engines import _start_worker\n_start_worker(3)\n"
             "from parity import startup\n"
             "print(os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'], startup._owned)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["3", "7", "True"]
