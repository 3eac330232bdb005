"""The backends' records: what opens which file, choosing a runtime, import failures."""

import re
import sys

import pytest

from parity.errors import BackendUnavailable, ModelLoadError, UsageError
from parity.formats import sniff
from parity.registry import BackendRecord, backend_class, record, records

FRAMEWORK_FREE = ("torch", "onnx", "onnxruntime", "cv2", "mxnet", "keras", "openvino",
                  "ai_edge_litert")


def test_every_record_is_complete():
    for name, info in records().items():
        assert info.name == name
        assert info.suffixes and all(s.startswith(".") and s == s.lower() for s in info.suffixes)
        assert info.adapter.count(":") == 1 and info.extra and info.framework
        assert info.habit.layout in ("NCHW", "NHWC")


def test_records_import_no_framework():
    code = ("import sys; from parity.registry import records; records(); "
            f"print([m for m in {FRAMEWORK_FREE!r} if m in sys.modules])")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_default_backend_and_a_chosen_one(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"\x08\x07\x12\x00")
    assert sniff(str(model)).backend == "onnxrt"
    caffe = tmp_path / "deploy.prototxt"
    caffe.write_text('name: "n"\nlayer { name: "a" type: "ReLU" }\n')
    with pytest.raises(UsageError, match=r"the keras backend does not open this model .*"
                                         r"backends that do: caffe"):
        sniff(str(caffe), backend="keras")
    with pytest.raises(UsageError, match="unknown backend 'nope'; known: onnxrt"):
        sniff(str(model), backend="nope")


def test_content_sniffing_without_a_known_suffix(tmp_path):
    hdf5 = tmp_path / "weights.bin"
    hdf5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 8)
    assert sniff(str(hdf5)).backend == "keras"
    noise = tmp_path / "noise.bin"
    noise.write_bytes(b"\x00\x01" * 8)
    with pytest.raises(ModelLoadError, match=re.escape("unrecognised model format (expected "
                                                       "one of .onnx")):
        sniff(str(noise))


def test_advice_is_filled_from_the_record():
    assert record("caffe").advise("set_eps", node="bn", file="m.prototxt", eps=1e-3) == (
        "set `batch_norm_param { eps: 0.001 }` on layer `bn` in m.prototxt")
    assert record("mxnet").advise("reexport", file="x") is None


def test_missing_framework_names_the_extra(monkeypatch):
    ghost = BackendRecord(name="ghost", adapter="ghost:Ghost", extra="ghost",
                          framework="parity_no_such_framework", distribution="nope",
                          formats=".ghost", suffixes=(".ghost",))
    monkeypatch.setitem(records(), "ghost", ghost)
    with pytest.raises(BackendUnavailable, match=r"parity_no_such_framework is not installed\): "
                                                 r"pip install 'parity\[ghost\]'"):
        backend_class("ghost")
    assert ghost.version() is None


def test_backends_command_lists_every_backend_with_version_and_state():
    from click.testing import CliRunner

    from parity.cli import cli

    result = CliRunner().invoke(cli, ["backends"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name, info in records().items():
        row = next(line for line in lines if line.split()[:1] == [name])
        version = info.version()
        assert (version or "-") in row
        assert ("yes" in row) == (version is not None), row


def test_an_adapter_parity_cannot_import_says_parity_is_not_installed(monkeypatch):
    lost = BackendRecord(name="lost", adapter="no_such_adapter:Lost", extra="onnx",
                         framework="json", distribution="nope", formats=".lost",
                         suffixes=(".lost",))
    monkeypatch.setitem(records(), "lost", lost)
    with pytest.raises(BackendUnavailable, match="parity is not installed completely"):
        backend_class("lost")



_RECORD = '''from parity.registry import BackendRecord

RECORD = BackendRecord(name="npu", adapter="acme_parity.npu:NpuBackend", extra="npu",
                       framework="{framework}", distribution="acme-npu-runtime",
                       formats=".npu (a vendor's NPU runtime)", suffixes=(".npu",))
'''
_ADAPTER = '''{first_line}


class NpuBackend(Backend):
    name = "npu"
'''
_BUG = """from parity.backend import Backend

_OPS = {"conv": "CONV"}
_FUSED = _OPS["conv_relu"]  # the adapter's own bug, at import"""


@pytest.fixture
def npu_adapter(tmp_path, monkeypatch):
    """``(framework, adapter's first lines) -> model.npu``: a third-party adapter package
    ``acme_parity`` on sys.path, registered by its line in RECORD_MODULES."""
    from parity import registry

    def install(framework, first_line):
        package = tmp_path / "acme_parity"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "npu_record.py").write_text(_RECORD.format(framework=framework))
        (package / "npu.py").write_text(_ADAPTER.format(first_line=first_line))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setattr(registry, "RECORD_MODULES",
                            (*registry.RECORD_MODULES, "acme_parity.npu"))
        records.cache_clear()
        model = tmp_path / "model.npu"
        model.write_bytes(b"\x00" * 16)
        return model

    yield install
    records.cache_clear()  # the registry without it once monkeypatch restores the tuple
    for name in [m for m in sys.modules if m.split(".")[0] == "acme_parity"]:
        del sys.modules[name]


def test_an_adapter_that_raises_its_own_error_is_an_adapter_bug(npu_adapter):
    from click.testing import CliRunner

    from parity.api import open_model
    from parity.cli import cli
    from parity.registry import AdapterBug

    model = npu_adapter("json", _BUG)  # its framework (json) is installed
    assert record("npu").suffixes == (".npu",)
    with pytest.raises(AdapterBug) as raised:
        open_model(model)
    message = str(raised.value)
    assert message == ("the npu adapter (acme_parity.npu) failed to import: KeyError: "
                       "'conv_relu'; this is a bug in the adapter, not a missing framework")
    assert "pip install" not in message and "not installed" not in message
    assert isinstance(raised.value.__cause__, KeyError)  # the traceback is kept
    result = CliRunner().invoke(cli, ["inspect", str(model)])
    assert result.exit_code == 3, result.output  # not 1, which means "diverged"
    assert "Traceback" in result.output and "KeyError: 'conv_relu'" in result.output
    assert result.output.rstrip().splitlines()[-1].startswith(
        f"parity: internal error: AdapterBug: {message} (a bug, not a divergence")


@pytest.mark.parametrize(("framework", "first_line", "says"), [
    ("acme_npu_sdk", "from parity.backend import Backend",
     "the npu backend is not available (acme_npu_sdk is not installed): "
     "pip install 'parity[npu]'"),
    ("json", "from parity.no_such_module import Backend",
     "the npu backend is not available (parity is not installed completely where the "
     "adapter runs (No module named 'parity.no_such_module'): reinstall parity): "
     "pip install 'parity[npu]'"),
])
def test_the_same_adapter_without_its_framework_or_parity(npu_adapter, framework, first_line,
                                                          says):
    from parity.api import open_model

    with pytest.raises(BackendUnavailable) as raised:
        open_model(npu_adapter(framework, first_line))
    assert str(raised.value) == says
