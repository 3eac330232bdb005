import re

import pytest

from parity.errors import ModelLoadError
from parity.formats import sniff


def test_backend_by_suffix(tmp_path):
    symbol = tmp_path / "net-symbol.json"
    symbol.write_text('{"nodes": [], "heads": [], "arg_nodes": []}')
    assert sniff(str(symbol)).backend == "mxnet"
    proto = tmp_path / "deploy.prototxt"
    proto.write_text('name: "n"\nlayer { name: "a" type: "ReLU" }\n')
    assert sniff(str(proto)).backend == "caffe"


def test_callable_spec(tmp_path):
    source = tmp_path / "net.py"
    source.write_text("def build():\n    pass\n")
    ref = sniff(f"{source}:build")
    assert (ref.backend, ref.path, ref.options["factory"]) == ("pytorch", source, "build")
    assert sniff("torchvision.models:resnet18").options["factory"] == "resnet18"


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("empty.onnx", b"", "file is empty"),
    ("zip.onnx", b"PK\x05\x06" + b"\x00" * 18, "not an ONNX protobuf (a zip archive)"),
    ("model.pt", b"\x80\x02}q\x00.", "not a TorchScript or torch.export archive"),
    ("bad-symbol.json", b"{not json", "not valid JSON"),
    ("other.json", b'{"a": 1}', "not an MXNet symbol"),
    ("bin.prototxt", b"\xff\xfe\x00\x81", "not text"),
    ("noise.bin", b"\x00\x01\x02\xff" * 10, "unrecognised model format"),
])
def test_bad_files_name_the_file_and_problem(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=re.escape(problem)) as info:
        sniff(str(path))
    assert str(path) in str(info.value)


def test_missing_file_and_missing_weights(tmp_path):
    with pytest.raises(ModelLoadError, match="file not found"):
        sniff(str(tmp_path / "nope.onnx"))
    model = tmp_path / "m.onnx"
    model.write_bytes(b"\x08\x07")
    with pytest.raises(ModelLoadError, match="weights file not found"):
        sniff(str(model), tmp_path / "w.pt")
