"""A corpus of bad inputs for ``parity``, generated deterministically from the real fixtures.

Every case is one bad input (a truncated weights file, a mislabelled format, a pickle
carrying code, a model that makes NaN...) and what the CLI must do with it: the exit
code, words its one-line message must contain, and marker files that must NOT exist
afterwards (a payload that ran would have created them).

``python tests/corpus/build_corpus.py DIR`` writes the corpus into DIR and prints the
cases as JSON; the tests call :func:`build_corpus` on a temporary folder.
"""

from __future__ import annotations

import builtins
import json
import pickle
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
ONNX = FIXTURES / "smallcnn.onnx"
SCRIPT = FIXTURES / "smallcnn.pt"
STATE = FIXTURES / "smallcnn_state.pt"
FACTORY = FIXTURES / "smallcnn.py"
FACE = FIXTURES / "mobilefacenet"
KERAS = FIXTURES / "keras"
IMAGE = FIXTURES / "face.jpg"


@dataclass(frozen=True)
class Case:
    """One bad input and what ``parity`` must answer.

    ``args`` are the command line after ``parity``; ``words`` must all appear in stderr
    (case-insensitive); ``markers`` must not exist after the run; ``kept`` files must hold
    the same bytes after the run as before it.
    """

    args: tuple[str, ...]
    exit_code: int = 2
    words: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    name: str = ""
    kept: tuple[str, ...] = ()


Maker = Callable[[Path], Case]
MAKERS: list[Maker] = []


def case(maker: Maker) -> Maker:
    """Register a case maker; the case is named after the function."""
    MAKERS.append(maker)
    return maker


def build_corpus(directory: Path) -> list[Case]:
    """Write every case's files into ``directory/<case name>/`` and return the cases."""
    return [build_case(directory, maker.__name__) for maker in MAKERS]


def build_case(directory: Path, name: str) -> Case:
    """Write one case's files into ``directory/<name>/`` and return the case."""
    maker = next(m for m in MAKERS if m.__name__ == name)
    folder = Path(directory) / name
    folder.mkdir(parents=True, exist_ok=True)
    return replace(maker(folder), name=name)


def case_names() -> list[str]:
    """Names of all cases, without writing anything."""
    return [maker.__name__ for maker in MAKERS]


# -- helpers -------------------------------------------------------------------------

def _noise(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def write(path: Path, data: bytes | str) -> str:
    """Write ``data`` (text as UTF-8) to ``path``; returns the path as a string."""
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return str(path)


def _truncated(source: Path) -> bytes:
    """The first half of ``source``."""
    data = source.read_bytes()
    return data[: len(data) // 2]


def _flipped(source: Path, offsets: Iterable[int]) -> bytes:
    """``source`` with every bit of the bytes at ``offsets`` inverted."""
    data = bytearray(source.read_bytes())
    for offset in offsets:
        data[offset] ^= 0xFF
    return bytes(data)


def _copy(source: Path, target: Path) -> str:
    shutil.copyfile(source, target)
    return str(target)


def _compare(a: str, b: str, *extra: str) -> tuple[str, ...]:
    return ("compare", a, b, *extra)


class Payload:
    """Unpickling this runs ``exec`` that creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _mxnet_pair(folder: Path, params: bytes | None = None, symbol: str | None = None) -> str:
    """``model-symbol.json`` (+ ``model-0000.params``) in ``folder``; returns the symbol path."""
    text = symbol if symbol is not None else (FACE / "model-symbol.json").read_text()
    path = write(folder / "model-symbol.json", text)
    if params is not None:
        write(folder / "model-0000.params", params)
    return path


def caffe_pair(folder: Path, caffemodel: bytes | None = None, prototxt: str | None = None
               ) -> str:
    """``model.prototxt`` (+ ``model.caffemodel``) in ``folder``; returns the prototxt."""
    text = prototxt if prototxt is not None else (FACE / "model.prototxt").read_text()
    path = write(folder / "model.prototxt", text)
    if caffemodel is not None:
        write(folder / "model.caffemodel", caffemodel)
    return path


def _symbol_with(change: Callable[[dict], None]) -> str:
    data = json.loads((FACE / "model-symbol.json").read_text())
    change(data)
    return json.dumps(data)


# -- tiny ONNX models ----------------------------------------------------------------

def onnx_model(nodes: list, initializers: tuple = (), inputs: tuple[str, ...] = ("x",)
               ) -> bytes:
    """A model of ``nodes`` with (1, 4) float ``inputs``; the last node's output is "y"."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes, "corpus",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 4]) for name in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def onnx_node(op: str, inputs: list[str], output: str, **attrs: object) -> object:
    """An ONNX node named after its output (the graph output "y" is made by node "out")."""
    from onnx import helper

    return helper.make_node(op, inputs, [output], name=output if output != "y" else "out",
                            **attrs)


def _constant(name: str, values: list[float]) -> object:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, np.float32), name)


def external_data_model(location: str) -> bytes:
    """A model whose initializer ``w`` is stored outside it, at ``location``."""
    from onnx import TensorProto

    weight = _constant("w", [1.0] * 4)
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    return onnx_model([onnx_node("Add", ["x", "w"], "y")], (weight,))


def _healthy(folder: Path) -> str:
    """x -> Abs -> Log -> Relu: finite for any finite input but zero."""
    nodes = [onnx_node("Abs", ["x"], "abs"), onnx_node("Log", ["abs"], "log"),
             onnx_node("Relu", ["log"], "y")]
    return write(folder / "healthy.onnx", onnx_model(nodes))


# -- ONNX ----------------------------------------------------------------------------

@case
def onnx_truncated(folder: Path) -> Case:
    bad = write(folder / "model.onnx", _truncated(ONNX))
    return Case(_compare(bad, str(SCRIPT)), 2, ("model.onnx", "onnx"))


@case
def onnx_bitflipped(folder: Path) -> Case:
    bad = write(folder / "model.onnx", _flipped(ONNX, range(4)))
    return Case(_compare(bad, str(SCRIPT)), 2, ("model.onnx", "onnx"))


@case
def onnx_random_bytes(folder: Path) -> Case:
    bad = write(folder / "model.onnx", _noise(5000, 1))
    return Case(_compare(bad, str(SCRIPT)), 2, ("model.onnx",))


@case
def onnx_empty(folder: Path) -> Case:
    bad = write(folder / "model.onnx", b"")
    return Case(_compare(bad, str(SCRIPT)), 2, ("model.onnx", "empty"))


@case
def onnx_parses_as_empty_protobuf(folder: Path) -> Case:
    """Two bytes that protobuf reads as an unknown field: an empty model, not a model."""
    bad = write(folder / "model.onnx", b"x\n")
    return Case(("inspect", bad), 2, ("model.onnx", "holds no graph"))


@case
def model_name_too_long(folder: Path) -> Case:
    bad = str(folder / ("m" * 300 + ".onnx"))
    return Case(("inspect", bad), 2, ("mmmm.onnx", "name too long"))


@case
def model_is_a_pipe(folder: Path) -> Case:
    import os

    pipe = folder / "model.onnx"
    if not pipe.exists():
        os.mkfifo(pipe)
    return Case(("inspect", str(pipe)), 2, ("model.onnx", "not a regular file"))


@case
def onnx_is_torchscript(folder: Path) -> Case:
    bad = _copy(SCRIPT, folder / "model.onnx")
    return Case(_compare(bad, str(SCRIPT)), 2,
                ("model.onnx", "not an onnx", "zip"))


@case
def onnx_is_prototxt(folder: Path) -> Case:
    bad = _copy(FACE / "model.prototxt", folder / "model.onnx")
    return Case(_compare(bad, str(SCRIPT)), 2,
                ("model.onnx", "not an onnx", "text"))


@case
def onnx_external_data_escapes(folder: Path) -> Case:
    (folder / "models").mkdir(exist_ok=True)
    escaping = external_data_model("../../../../../../etc/passwd")
    bad = write(folder / "models" / "model.onnx", escaping)
    return Case(("inspect", bad), 2,
                ("model.onnx", "external data", "outside"))


@case
def onnx_external_data_absolute(folder: Path) -> Case:
    bad = write(folder / "model.onnx", external_data_model("/etc/passwd"))
    return Case(("inspect", bad), 2,
                ("model.onnx", "external data", "outside"))


@case
def onnx_external_data_symlink(folder: Path) -> Case:
    link = folder / "weights.bin"
    if not link.is_symlink():
        link.symlink_to("/etc/passwd")
    bad = write(folder / "model.onnx", external_data_model("weights.bin"))
    return Case(("inspect", bad), 2,
                ("model.onnx", "external data", "outside"))


@case
def onnx_external_data_missing(folder: Path) -> Case:
    bad = write(folder / "model.onnx", external_data_model("weights.bin"))
    return Case(("inspect", bad), 2,
                ("model.onnx", "weights.bin", "not found"))


@case
def onnx_log_of_negative(folder: Path) -> Case:
    """Log of the raw input: NaN wherever the input is negative; the healthy side takes Abs."""
    sick = [onnx_node("Log", ["x"], "log"), onnx_node("Relu", ["log"], "y")]
    bad = write(folder / "sick.onnx", onnx_model(sick))
    return Case(_compare(bad, _healthy(folder)), 1, ("nan",))


@case
def onnx_division_by_zero(folder: Path) -> Case:
    """Division by a zero constant: +-Inf everywhere."""
    sick = [onnx_node("Div", ["x", "zero"], "div"), onnx_node("Relu", ["div"], "y")]
    fine = [onnx_node("Div", ["x", "zero"], "div"), onnx_node("Relu", ["div"], "y")]
    bad = write(folder / "div0.onnx", onnx_model(sick, (_constant("zero", [0.0] * 4),)))
    good = write(folder / "fine.onnx", onnx_model(fine, (_constant("zero", [1.0] * 4),)))
    return Case(_compare(bad, good), 1, ("inf",))


# -- PyTorch -------------------------------------------------------------------------

@case
def pt_random_bytes(folder: Path) -> Case:
    bad = write(folder / "model.pt", _noise(5000, 2))
    return Case(_compare(bad, str(ONNX)), 2, ("model.pt", "torchscript"))


@case
def pt2_random_bytes(folder: Path) -> Case:
    bad = write(folder / "model.pt2", _noise(5000, 3))
    return Case(_compare(bad, str(ONNX)), 2, ("model.pt2",))


@case
def pt_is_onnx(folder: Path) -> Case:
    bad = _copy(ONNX, folder / "model.pt")
    return Case(_compare(bad, str(ONNX)), 2, ("model.pt", "not a torchscript", "name it .onnx"))


@case
def pt_is_pickle_payload(folder: Path) -> Case:
    """A plain pickle named .pt given as the model: refused before anything unpickles it."""
    marker = folder / "MARKER"
    bad = write(folder / "model.pt", pickle.dumps(Payload(marker), protocol=2))
    return Case(_compare(bad, str(ONNX)), 2, ("model.pt", "pickle"), (str(marker),))


@case
def pt_truncated(folder: Path) -> Case:
    bad = write(folder / "model.pt", _truncated(SCRIPT))
    return Case(_compare(bad, str(ONNX)), 2, ("model.pt",))


@case
def pt_zip_not_torchscript(folder: Path) -> Case:
    with zipfile.ZipFile(folder / "model.pt", "w") as archive:
        archive.writestr("readme.txt", "not a model")
    bad = str(folder / "model.pt")
    return Case(_compare(bad, str(ONNX)), 2,
                ("model.pt", "torchscript"))


@case
def pt2_is_torchscript(folder: Path) -> Case:
    bad = _copy(SCRIPT, folder / "model.pt2")
    return Case(_compare(bad, str(ONNX)), 2,
                ("model.pt2", "torch.export"))


@case
def torchscript_pickle_payload(folder: Path) -> Case:
    """A TorchScript archive whose data.pkl would run code if unpickled by Python."""
    marker = folder / "MARKER"
    bad = folder / "model.pt"
    with zipfile.ZipFile(SCRIPT) as source, zipfile.ZipFile(bad, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                data = pickle.dumps(Payload(marker), protocol=2)
            target.writestr(info, data)
    return Case(_compare(str(bad), str(ONNX)), 2,
                ("model.pt",), (str(marker),))


@case
def state_dict_pickle_payload(folder: Path) -> Case:
    """``file.py:build --a-weights evil.pt``: torch.save of an object with ``__reduce__``."""
    import torch

    marker = folder / "MARKER"
    torch.save({"conv1.weight": Payload(marker)}, folder / "evil.pt")
    factory = _copy(FACTORY, folder / "smallcnn.py")
    args = _compare(f"{factory}:build", str(ONNX), "--a-weights", str(folder / "evil.pt"))
    return Case(args, 2, ("evil.pt", "unpickle"), (str(marker),))


@case
def state_dict_legacy_pickle_payload(folder: Path) -> Case:
    """The same payload as a plain (pre-zip) pickle file."""
    marker = folder / "MARKER"
    write(folder / "evil.pt", pickle.dumps({"w": Payload(marker)}, protocol=2))
    factory = _copy(FACTORY, folder / "smallcnn.py")
    args = _compare(f"{factory}:build", str(ONNX), "--a-weights", str(folder / "evil.pt"))
    return Case(args, 2, ("evil.pt",), (str(marker),))


@case
def state_dict_wrong_model(folder: Path) -> Case:
    import torch

    torch.save({"not.a.layer": torch.zeros(3)}, folder / "other.pt")
    factory = _copy(FACTORY, folder / "smallcnn.py")
    args = _compare(f"{factory}:build", str(ONNX), "--a-weights", str(folder / "other.pt"))
    return Case(args, 2, ("other.pt", "does not fit"))


@case
def state_dict_random_bytes(folder: Path) -> Case:
    write(folder / "weights.pt", _noise(3000, 4))
    factory = _copy(FACTORY, folder / "smallcnn.py")
    args = _compare(f"{factory}:build", str(ONNX), "--a-weights", str(folder / "weights.pt"))
    return Case(args, 2, ("weights.pt",))


def _file_touching_module(path: Path, shared: bool) -> object:
    """A scripted module whose forward maps ``path`` with ``torch.from_file``.

    ``shared=True`` creates and writes the file; ``shared=False`` reads it into a tensor.
    """
    import torch

    class FromFile(torch.nn.Module):
        def __init__(self, target: str, shared: bool) -> None:
            super().__init__()
            self.target = target
            self.shared = shared

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            data = torch.from_file(self.target, shared=self.shared, size=16, dtype=torch.uint8)
            return x + data.float().sum()

    return torch.jit.script(FromFile(str(path), shared))


@case
def torchscript_writes_a_file(folder: Path) -> Case:
    """``torch.from_file(shared=True)`` in forward: would create MARKER when run."""
    marker = folder / "MARKER"
    _file_touching_module(marker, True).save(str(folder / "model.pt"))
    return Case(_compare(str(folder / "model.pt"), str(folder / "model.pt")), 2,
                ("model.pt", "aten::from_file", "--trust-code"), (str(marker),))


@case
def torchscript_reads_a_file(folder: Path) -> Case:
    """``torch.from_file(shared=False)``: would read a secret into a saved tensor."""
    secret = write(folder / "secret.txt", "password=hunter2\n")
    _file_touching_module(Path(secret), False).save(str(folder / "model.pt"))
    saved = folder / "saved.npz"
    args = ("run", str(folder / "model.pt"), "--node", "add", "--input-shape", "1",
            "--save", str(saved))
    return Case(args, 2, ("model.pt", "aten::from_file"), (str(saved),))


@case
def torchscript_setstate_writes_a_file(folder: Path) -> Case:
    """A scripted ``__setstate__`` runs inside torch.jit.load: refused before loading."""
    import torch

    marker = folder / "MARKER"

    class OnLoad(torch.nn.Module):
        def __init__(self, target: str) -> None:
            super().__init__()
            self.target = target
            self.loaded = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.loaded

        @torch.jit.export
        def __getstate__(self) -> tuple[str, bool]:
            return (self.target, self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[str, bool]) -> None:
            self.target, self.training = state[0], state[1]
            data = torch.from_file(self.target, shared=True, size=16, dtype=torch.uint8)
            self.loaded = int(data.sum().item())

    torch.jit.script(OnLoad(str(marker))).save(str(folder / "model.pt"))
    return Case(("inspect", str(folder / "model.pt")), 2,
                ("model.pt", "aten::from_file"), (str(marker),))


@case
def exported_program_writes_a_file(folder: Path) -> Case:
    """A torch.export program edited to call ``aten::from_file`` before its add."""
    import torch

    class AddOne(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + 1

    marker = folder / "MARKER"
    program = torch.export.export(AddOne(), (torch.zeros(16),))
    add = next(n for n in program.graph.nodes if n.op == "call_function")
    with program.graph.inserting_before(add):
        mapped = program.graph.call_function(torch.ops.aten.from_file.default,
                                             (str(marker), True, 16))
    mapped.meta["val"] = add.meta["val"]
    add.args = (mapped, 1)
    program.graph_module.recompile()
    torch.export.save(program, str(folder / "model.pt2"))
    return Case(("run", str(folder / "model.pt2"), "--node", "add"), 2,
                ("model.pt2", "aten::from_file"), (str(marker),))


# -- MXNet ---------------------------------------------------------------------------

@case
def params_truncated(folder: Path) -> Case:
    symbol = _mxnet_pair(folder, _truncated(FACE / "model-0000.params"))
    return Case(_compare(symbol, str(FACE / "model.prototxt")), 2,
                ("model-0000.params", "params"))


@case
def params_bitflipped(folder: Path) -> Case:
    symbol = _mxnet_pair(folder, _flipped(FACE / "model-0000.params", (0, 1, 2, 3, 8, 9)))
    return Case(_compare(symbol, str(FACE / "model.prototxt")), 2,
                ("model-0000.params", "params"))


@case
def params_random_bytes(folder: Path) -> Case:
    symbol = _mxnet_pair(folder, _noise(4000, 5))
    return Case(_compare(symbol, str(FACE / "model.prototxt")), 2,
                ("model-0000.params",))


@case
def params_as_model_random_bytes(folder: Path) -> Case:
    _mxnet_pair(folder, _noise(4000, 6))
    bad = str(folder / "model-0000.params")
    return Case(("inspect", bad), 2, ("model-0000.params",))


@case
def symbol_random_bytes(folder: Path) -> Case:
    bad = write(folder / "model-symbol.json", _noise(3000, 7))
    return Case(("inspect", bad), 2, ("model-symbol.json", "json"))


@case
def symbol_empty(folder: Path) -> Case:
    bad = write(folder / "model-symbol.json", b"")
    return Case(("inspect", bad), 2, ("model-symbol.json", "empty"))


@case
def symbol_input_out_of_range(folder: Path) -> Case:
    def change(data: dict) -> None:
        next(n for n in data["nodes"] if n["inputs"])["inputs"][0][0] = 100000

    symbol = _mxnet_pair(folder, (FACE / "model-0000.params").read_bytes(), _symbol_with(change))
    return Case(("inspect", symbol), 2,
                ("model-symbol.json", "100000"))


@case
def symbol_head_out_of_range(folder: Path) -> Case:
    def change(data: dict) -> None:
        data["heads"] = [[99999, 0, 0]]

    symbol = _mxnet_pair(folder, (FACE / "model-0000.params").read_bytes(), _symbol_with(change))
    return Case(("inspect", symbol), 2,
                ("model-symbol.json", "99999"))


@case
def symbol_bad_attr(folder: Path) -> Case:
    def change(data: dict) -> None:
        conv = next(n for n in data["nodes"] if n["op"] == "Convolution")
        conv["attrs"]["kernel"] = "(3, x)"

    symbol = _mxnet_pair(folder, (FACE / "model-0000.params").read_bytes(), _symbol_with(change))
    return Case(("inspect", symbol), 2,
                ("model-symbol.json", "kernel"))


@case
def symbol_attrs_not_object(folder: Path) -> Case:
    def change(data: dict) -> None:
        next(n for n in data["nodes"] if n["op"] == "Convolution")["attrs"] = [1, 2]

    symbol = _mxnet_pair(folder, (FACE / "model-0000.params").read_bytes(), _symbol_with(change))
    return Case(("inspect", symbol), 2,
                ("model-symbol.json", "attrs"))


@case
def symbol_unknown_op(folder: Path) -> Case:
    def change(data: dict) -> None:
        next(n for n in data["nodes"] if n["op"] == "elemwise_add")["op"] = "NoSuchOp"

    symbol = _mxnet_pair(folder, (FACE / "model-0000.params").read_bytes(), _symbol_with(change))
    return Case(("inspect", symbol), 2,
                ("model-symbol.json", "NoSuchOp"))


@case
def symbol_missing_params(folder: Path) -> Case:
    symbol = _mxnet_pair(folder)
    return Case(_compare(symbol, str(FACE / "model.prototxt")), 2,
                ("model-symbol.json", "no weights"))


@case
def symbol_not_mxnet_json(folder: Path) -> Case:
    bad = write(folder / "model-symbol.json", '{"name": "not a symbol", "layers": []}')
    return Case(("inspect", bad), 2,
                ("model-symbol.json", "not an mxnet symbol"))


@case
def json_is_prototxt(folder: Path) -> Case:
    bad = _copy(FACE / "model.prototxt", folder / "model-symbol.json")
    return Case(("inspect", bad), 2, ("model-symbol.json", "json"))


# -- Caffe ---------------------------------------------------------------------------

@case
def prototxt_syntax_error(folder: Path) -> Case:
    text = (FACE / "model.prototxt").read_text().replace("layer {", "layer {{", 3)
    bad = caffe_pair(folder, (FACE / "model.caffemodel").read_bytes(), text)
    return Case(("inspect", bad), 2, ("model.prototxt", "line"))


@case
def prototxt_unclosed_block(folder: Path) -> Case:
    text = (FACE / "model.prototxt").read_text().rstrip().removesuffix("}")
    bad = caffe_pair(folder, (FACE / "model.caffemodel").read_bytes(), text)
    return Case(("inspect", bad), 2,
                ("model.prototxt", "no closing"))


@case
def prototxt_unknown_layer_type(folder: Path) -> Case:
    text = (FACE / "model.prototxt").read_text().replace('type: "PReLU"', 'type: "Frobnicate"', 1)
    bad = caffe_pair(folder, (FACE / "model.caffemodel").read_bytes(), text)
    return Case(("inspect", bad), 2,
                ("model.prototxt", "Frobnicate"))


@case
def prototxt_dangling_bottom(folder: Path) -> Case:
    text = (FACE / "model.prototxt").read_text().replace(
        'bottom: "conv_1_conv2d"', 'bottom: "nowhere"', 1)
    bad = caffe_pair(folder, (FACE / "model.caffemodel").read_bytes(), text)
    return Case(("inspect", bad), 2,
                ("model.prototxt", "nowhere"))


@case
def prototxt_random_bytes(folder: Path) -> Case:
    bad = caffe_pair(folder, (FACE / "model.caffemodel").read_bytes())
    write(Path(bad), _noise(3000, 8))
    return Case(("inspect", bad), 2, ("model.prototxt",))


@case
def prototxt_missing_weights(folder: Path) -> Case:
    bad = caffe_pair(folder)
    return Case(("inspect", bad), 2,
                ("model.prototxt", "no weights"))


@case
def caffemodel_truncated(folder: Path) -> Case:
    bad = caffe_pair(folder, _truncated(FACE / "model.caffemodel"))
    return Case(("inspect", bad), 2, ("model.caffemodel", "not a readable"))


@case
def caffemodel_bitflipped(folder: Path) -> Case:
    bad = caffe_pair(folder, _flipped(FACE / "model.caffemodel", range(8)))
    return Case(("inspect", bad), 2, ("model.caffemodel", "not a readable"))


@case
def caffemodel_random_bytes(folder: Path) -> Case:
    bad = caffe_pair(folder, _noise(4000, 9))
    return Case(("inspect", bad), 2,
                ("model.caffemodel", "no weights for layer"))


@case
def caffemodel_is_onnx(folder: Path) -> Case:
    bad = caffe_pair(folder, ONNX.read_bytes())
    return Case(("inspect", bad), 2, ("model.caffemodel", "not a readable"))


@case
def caffemodel_without_prototxt(folder: Path) -> Case:
    bad = _copy(FACE / "model.caffemodel", folder / "weights.caffemodel")
    return Case(("inspect", bad), 2,
                ("weights.caffemodel", "no prototxt"))


@case
def prototxt_is_onnx(folder: Path) -> Case:
    bad = _copy(ONNX, folder / "model.prototxt")
    return Case(("inspect", bad), 2, ("model.prototxt", "not text"))


# -- Keras ---------------------------------------------------------------------------

@case
def h5_random_bytes(folder: Path) -> Case:
    bad = write(folder / "model.h5", _noise(4000, 10))
    return Case(("inspect", bad), 2, ("model.h5", "hdf5"))


@case
def h5_truncated(folder: Path) -> Case:
    bad = write(folder / "model.h5", _truncated(KERAS / "resnet_small.h5"))
    return Case(("inspect", bad), 2, ("model.h5", "keras"))


@case
def keras_random_bytes(folder: Path) -> Case:
    bad = write(folder / "model.keras", _noise(4000, 11))
    return Case(("inspect", bad), 2, ("model.keras", "zip"))


@case
def keras_zip_not_keras(folder: Path) -> Case:
    with zipfile.ZipFile(folder / "model.keras", "w") as archive:
        archive.writestr("config.json", "{not json")
    bad = str(folder / "model.keras")
    return Case(("inspect", bad), 2, ("model.keras", "keras"))


@case
def h5_is_keras_zip(folder: Path) -> Case:
    bad = _copy(KERAS / "resnet_small.keras", folder / "model.h5")
    return Case(("inspect", bad), 2, ("model.h5", "not an hdf5"))


def _lambda_model(marker: Path) -> object:
    """A Keras model whose Lambda layer creates ``marker`` whenever it is called."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    code = f"open({str(marker)!r}, 'w').close()"
    touch = eval(f"lambda x: (exec({code!r}), x)[1]")  # bytecode the loader must never run
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Lambda(touch, name="touch")(inputs))


@case
def keras_lambda_layer(folder: Path) -> Case:
    marker = folder / "MARKER"
    _lambda_model(marker).save(folder / "model.keras")
    marker.unlink(missing_ok=True)  # building the model called the Lambda once
    return Case(("inspect", str(folder / "model.keras")), 2,
                ("model.keras", "lambda", "--trust-code"), (str(marker),))


@case
def h5_lambda_layer(folder: Path) -> Case:
    marker = folder / "MARKER"
    _lambda_model(marker).save(folder / "model.h5")
    marker.unlink(missing_ok=True)
    return Case(("inspect", str(folder / "model.h5")), 2,
                ("model.h5", "lambda", "--trust-code"), (str(marker),))


@case
def keras_config_names_os_system(folder: Path) -> Case:
    """A .keras config whose layer is ``os.system``: Keras must not import and call it."""
    marker = folder / "MARKER"
    _lambda_model(marker).save(folder / "base.keras")
    marker.unlink(missing_ok=True)
    with zipfile.ZipFile(folder / "base.keras") as source, \
            zipfile.ZipFile(folder / "model.keras", "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(data)
                config["config"]["layers"][1].update(
                    module="os", class_name="system", registered_name=None,
                    config=f"touch {marker}")
                data = json.dumps(config).encode()
            target.writestr(info, data)
    return Case(("inspect", str(folder / "model.keras")), 2, ("model.keras",), (str(marker),))


# -- unknown and mislabelled files ---------------------------------------------------

@case
def npy_as_model(folder: Path) -> Case:
    bad = write(folder / "model.npy", _noise(2000, 12))
    return Case(("inspect", bad), 2, ("model.npy", "unrecognised"))


@case
def unknown_suffix_text(folder: Path) -> Case:
    bad = write(folder / "model.bin", "hello, I am not a model\n")
    return Case(("inspect", bad), 2, ("model.bin", "unrecognised"))


@case
def model_is_directory(folder: Path) -> Case:
    (folder / "model.onnx").mkdir(exist_ok=True)
    return Case(("inspect", str(folder / "model.onnx")), 2,
                ("model.onnx", "directory"))


@case
def model_missing(folder: Path) -> Case:
    return Case(("inspect", str(folder / "absent.onnx")), 2,
                ("absent.onnx", "not found"))


@case
def factory_missing(folder: Path) -> Case:
    factory = _copy(FACTORY, folder / "smallcnn.py")
    return Case(_compare(f"{factory}:nothing", str(ONNX)), 2,
                ("smallcnn.py", "nothing"))


# -- inputs --------------------------------------------------------------------------

@case
def image_not_an_image(folder: Path) -> Case:
    image = write(folder / "face.jpg", "this is text, not a JPEG\n")
    return Case(_compare(str(ONNX), str(SCRIPT), "--image", image), 2,
                ("face.jpg", "image"))


@case
def image_missing(folder: Path) -> Case:
    args = _compare(str(ONNX), str(SCRIPT), "--image", str(folder / "absent.png"))
    return Case(args, 2, ("absent.png", "not found"))


def _png(path: Path, image: np.ndarray) -> str:
    import cv2

    cv2.imwrite(str(path), image)
    return str(path)


def _face(channels: int, dtype: type = np.uint8) -> np.ndarray:
    import cv2

    bgr = cv2.resize(cv2.imread(str(IMAGE)), (32, 32))
    image = {1: cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 3: bgr,
             4: cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)}[channels]
    return image.astype(np.uint16) * 257 if dtype is np.uint16 else image


@case
def image_grayscale(folder: Path) -> Case:
    """A 1-channel PNG is accepted: converted to 3 equal channels, as cv2.imread does."""
    image = _png(folder / "gray.png", _face(1))
    return Case(_compare(str(ONNX), str(SCRIPT), "--image", image), 0)


@case
def image_with_alpha(folder: Path) -> Case:
    """A 4-channel PNG is accepted: the alpha channel is dropped, as cv2.imread does."""
    image = _png(folder / "rgba.png", _face(4))
    return Case(_compare(str(ONNX), str(SCRIPT), "--image", image), 0)


@case
def image_16_bit(folder: Path) -> Case:
    image = _png(folder / "deep.png", _face(3, np.uint16))
    return Case(_compare(str(ONNX), str(SCRIPT), "--image", image), 2,
                ("deep.png", "16-bit"))


def _npy(path: Path, array: np.ndarray, allow_pickle: bool = False) -> str:
    np.save(path, array, allow_pickle=allow_pickle)
    return str(path)


@case
def input_wrong_shape(folder: Path) -> Case:
    array = _npy(folder / "x.npy", np.zeros((1, 3, 16, 16), np.float32))
    return Case(_compare(str(ONNX), str(SCRIPT), "--input", array), 2,
                ("x.npy", "smallcnn.onnx", "(1, 3, 16, 16)"))


@case
def input_wrong_rank(folder: Path) -> Case:
    array = _npy(folder / "x.npy", np.zeros((3, 32, 32), np.float32))
    return Case(_compare(str(ONNX), str(SCRIPT), "--input", array), 2,
                ("(3, 32, 32)",))


@case
def input_complex(folder: Path) -> Case:
    array = _npy(folder / "x.npy", np.zeros((1, 3, 32, 32), np.complex64))
    return Case(_compare(str(ONNX), str(SCRIPT), "--input", array), 2,
                ("x.npy", "complex"))


@case
def input_strings(folder: Path) -> Case:
    array = _npy(folder / "x.npy", np.full((1, 3, 32, 32), "a"))
    return Case(_compare(str(ONNX), str(SCRIPT), "--input", array), 2,
                ("x.npy", "<U1"))


@case
def input_int(folder: Path) -> Case:
    """Integer pixels for a float model: converted to the model's float type (a note says so)."""
    values = np.random.default_rng(0).integers(-1, 2, (1, 3, 32, 32)).astype(np.int64)
    array = _npy(folder / "x.npy", values)
    return Case(_compare(str(ONNX), str(SCRIPT), "--input", array), 0)


@case
def input_object_pickle(folder: Path) -> Case:
    """An object array would unpickle a payload; np.load(allow_pickle=False) refuses it."""
    marker = folder / "MARKER"
    array = np.empty(1, dtype=object)
    array[0] = Payload(marker)
    path = _npy(folder / "x.npy", array, allow_pickle=True)
    return Case(_compare(str(ONNX), str(SCRIPT), "--input", path), 2,
                ("x.npy", "pickle"), (str(marker),))


@case
def input_random_bytes(folder: Path) -> Case:
    path = write(folder / "x.npy", _noise(1000, 13))
    return Case(_compare(str(ONNX), str(SCRIPT), "--input", path), 2,
                ("x.npy",))


@case
def inputs_npz_too_many(folder: Path) -> Case:
    path = folder / "x.npz"
    np.savez(path, input=np.zeros((1, 3, 32, 32), np.float32), extra=np.zeros(3, np.float32))
    return Case(_compare(str(ONNX), str(SCRIPT), "--inputs", str(path)),
                2, ("1 input", "2 array"))


@case
def inputs_npz_wrong_names(folder: Path) -> Case:
    """Two inputs, one array named as the model's and one not: names that half match."""
    model = onnx_model([onnx_node("Add", ["x", "z"], "y")], inputs=("x", "z"))
    onnx_path = write(folder / "two.onnx", model)
    path = folder / "x.npz"
    np.savez(path, x=np.zeros((1, 4), np.float32), w=np.zeros((1, 4), np.float32))
    return Case(_compare(onnx_path, onnx_path, "--inputs", str(path)),
                2, ("x.npz", "'w'", "'z'"))


@case
def input_with_nan(folder: Path) -> Case:
    """NaN in the input: refused, a difference of NaN and NaN means nothing."""
    values = np.zeros((1, 3, 32, 32), np.float32)
    values[0, 0, 0, 0] = np.nan
    array = _npy(folder / "x.npy", values)
    return Case(_compare(str(ONNX), str(SCRIPT), "--input", array), 2, ("x.npy", "1 NaN"))


# -- mapping and config files ------------------------------------------------------

@case
def map_unknown_node(folder: Path) -> Case:
    path = write(folder / "map.toml", '"layer1.0.convl" = "/layer1/layer1.0/conv1/Conv"\n')
    args = _compare(str(SCRIPT), str(ONNX), "--map", path)
    return Case(args, 2, ("layer1.0.convl", "closest", "layer1.0.conv1"))


@case
def map_not_toml(folder: Path) -> Case:
    path = write(folder / "map.toml", "a = = b\n")
    args = _compare(str(SCRIPT), str(ONNX), "--map", path)
    return Case(args, 2, ("map.toml", "not a valid mapping"))


@case
def map_value_not_string(folder: Path) -> Case:
    path = write(folder / "map.json", '{"conv1": 3}')
    args = _compare(str(SCRIPT), str(ONNX), "--map", path)
    return Case(args, 2, ("map.json", "conv1"))


@case
def map_binary(folder: Path) -> Case:
    path = write(folder / "map.toml", _noise(500, 14))
    args = _compare(str(SCRIPT), str(ONNX), "--map", path)
    return Case(args, 2, ("map.toml",))


@case
def config_unknown_key(folder: Path) -> Case:
    path = write(folder / "parity.toml", "[a]\nrgb = true\nmeen = [1, 2, 3]\n")
    args = _compare(str(ONNX), str(SCRIPT), "--image", str(IMAGE), "--config", path)
    return Case(args, 2, ("parity.toml", "meen"))


@case
def config_unknown_table(folder: Path) -> Case:
    path = write(folder / "parity.toml", "[c]\nrgb = true\n")
    args = _compare(str(ONNX), str(SCRIPT), "--image", str(IMAGE), "--config", path)
    return Case(args, 2, ("parity.toml", "'c'"))


@case
def config_not_a_table(folder: Path) -> Case:
    path = write(folder / "parity.toml", "a = 3\n")
    args = _compare(str(ONNX), str(SCRIPT), "--image", str(IMAGE), "--config", path)
    return Case(args, 2, ("parity.toml", "[a]"))


@case
def config_bad_value(folder: Path) -> Case:
    path = write(folder / "parity.toml", '[b]\nlayout = "CHWN"\n')
    args = _compare(str(ONNX), str(SCRIPT), "--image", str(IMAGE), "--config", path)
    return Case(args, 2, ("parity.toml", "CHWN"))


@case
def config_binary(folder: Path) -> Case:
    path = write(folder / "parity.toml", _noise(500, 15))
    args = _compare(str(ONNX), str(SCRIPT), "--image", str(IMAGE), "--config", path)
    return Case(args, 2, ("parity.toml",))


# -- outputs: nothing unnamed written, nothing replaced without --force -------------

def _saved_run(folder: Path) -> tuple[str, ...]:
    """A real saved run of smallcnn (ONNX vs TorchScript) in ``folder``; its file paths."""
    from parity.api import compare

    if not (folder / "report.json").exists():
        compare(str(ONNX), str(SCRIPT), save_tensors=folder)
    return tuple(str(folder / name) for name in ("report.json", "tensors_a.npz",
                                                 "tensors_b.npz"))


@case
def output_is_the_model(folder: Path) -> Case:
    model = _copy(ONNX, folder / "model.onnx")
    args = _compare(model, str(SCRIPT), "--format", "json", "--output", model, "--force")
    return Case(args, 2, ("--output", "model.onnx", "would replace the input"), kept=(model,))


@case
def report_output_is_the_saved_report(folder: Path) -> Case:
    run = _saved_run(folder / "run")
    args = ("report", str(folder / "run"), "--format", "json", "--output", run[0], "--force")
    return Case(args, 2, ("report.json", "would replace the input"), kept=run)


@case
def save_onto_existing_file(folder: Path) -> Case:
    keep = write(folder / "keep.npy", b"precious")
    return Case(("run", str(ONNX), "--node", "/conv1/Conv", "--save", keep), 2,
                ("keep.npy", "exists", "--force"), kept=(keep,))


@case
def save_tensors_onto_earlier_run(folder: Path) -> Case:
    run = _saved_run(folder / "run")
    return Case(_compare(str(ONNX), str(SCRIPT), "--save-tensors", str(folder / "run")), 2,
                ("run", "exists", "--force"), kept=run)


@case
def save_tensors_into_a_users_folder(folder: Path) -> Case:
    """--force replaces a saved run, never a folder holding other files."""
    notes = write(folder / "notes.txt", "mine\n")
    return Case(_compare(str(ONNX), str(SCRIPT), "--save-tensors", str(folder), "--force"), 2,
                ("not a saved run",), kept=(notes,))


@case
def save_tensors_through_planted_symlink(folder: Path) -> Case:
    """A symlink named like a run's file, planted in DIR: replaced, never written through."""
    outside = write(folder / "outside.txt", "not yours\n")
    run = folder / "run"
    run.mkdir(exist_ok=True)
    for name in ("tensors_a.npz", "report.json"):
        if not (run / name).is_symlink():
            (run / name).symlink_to(outside)
    return Case(_compare(str(ONNX), str(SCRIPT), "--save-tensors", str(run), "--force"), 0,
                kept=(outside,))


@case
def failing_run_keeps_the_earlier_run(folder: Path) -> Case:
    """ONNX Runtime fails mid-run: one line naming the model; the earlier run stays whole."""
    from onnx import numpy_helper

    run = _saved_run(folder / "run")
    shape = numpy_helper.from_array(np.asarray([3, 5], np.int64), "shape")
    nodes = [onnx_node("Relu", ["x"], "relu"), onnx_node("Reshape", ["relu", "shape"], "y")]
    bad = write(folder / "fails.onnx", onnx_model(nodes, (shape,)))
    args = _compare(bad, bad, "--save-tensors", str(folder / "run"), "--force")
    return Case(args, 2, ("fails.onnx", "onnxruntime failed", "cannot be reshaped"), kept=run)


# -- sizes: checked before anything is allocated -------------------------------------

def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """An .npy header declaring ``shape`` (followed by no data)."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


@case
def random_input_over_the_cap(folder: Path) -> Case:
    """--input-shape of 36 TiB: refused from the shape, never drawn (nor drawn as float64)."""
    return Case(_compare(str(ONNX), str(SCRIPT), "--input-shape", "100000,100000,1000"), 2,
                ("random input", "36.4 TiB", "--max-tensor-size"))


@case
def random_input_dimension_out_of_range(folder: Path) -> Case:
    return Case(_compare(str(ONNX), str(SCRIPT), "--input-shape", "99999999999999999999"), 2,
                ("--max-tensor-size",))


@case
def npy_header_over_the_cap(folder: Path) -> Case:
    """A 100-byte .npy declaring 4 TB: the header is read, the data never is."""
    path = write(folder / "x.npy", _npy_header((100000, 100000, 100)))
    return Case(_compare(str(ONNX), str(SCRIPT), "--input", path), 2,
                ("x.npy", "cap", "--max-tensor-size"))


@case
def npz_member_over_the_cap(folder: Path) -> Case:
    """A small .npz whose compressed member inflates past the cap (here lowered to 1M)."""
    path = folder / "x.npz"
    np.savez_compressed(path, input=np.zeros((1, 3, 512, 512), np.float32))
    return Case(_compare(str(ONNX), str(SCRIPT), "--inputs", str(path),
                         "--max-tensor-size", "1M"), 2, ("x.npz", "'input'", "cap"))


@case
def npz_member_object_array(folder: Path) -> Case:
    marker = folder / "MARKER"
    array = np.empty(1, dtype=object)
    array[0] = Payload(marker)
    path = folder / "x.npz"
    np.savez(path, input=array, allow_pickle=True)
    return Case(_compare(str(ONNX), str(SCRIPT), "--inputs", str(path)), 2,
                ("x.npz", "'input'", "pickle"), (str(marker),))


def png_header(width: int, height: int, color_type: int = 2) -> bytes:
    """A PNG signature and IHDR chunk declaring ``width`` x ``height`` (no pixel data)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


@case
def image_header_over_the_pixel_cap(folder: Path) -> Case:
    """60000x60000 in the header: refused before OpenCV decodes (or mis-decodes) it."""
    image = write(folder / "huge.png", png_header(60000, 60000))
    return Case(_compare(str(ONNX), str(SCRIPT), "--image", image), 2,
                ("huge.png", "60000x60000", "--max-pixels"))


def _external(location: str, dims: tuple[int, ...] = (1, 4), length: int | None = 16,
              ) -> object:
    from onnx import TensorProto

    weight = _constant("w", [1.0] * 4)
    weight.ClearField("raw_data")
    weight.ClearField("dims")
    weight.dims.extend(dims)
    weight.data_location = TensorProto.EXTERNAL
    fields = [("location", location), ("offset", "0")]
    fields += [("length", str(length))] if length is not None else []
    for key, value in fields:
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    return weight


@case
def onnx_external_data_shorter_than_declared(folder: Path) -> Case:
    write(folder / "weights.bin", b"\x00" * 8)
    model = onnx_model([onnx_node("Add", ["x", "w"], "y")], (_external("weights.bin"),))
    bad = write(folder / "model.onnx", model)
    return Case(("inspect", bad), 2, ("model.onnx", "weights.bin holds 8 bytes"))


@case
def onnx_external_data_length_mismatch(folder: Path) -> Case:
    write(folder / "weights.bin", b"\x00" * 4096)
    weight = _external("weights.bin", length=4096)
    bad = write(folder / "model.onnx", onnx_model([onnx_node("Add", ["x", "w"], "y")], (weight,)))
    return Case(("inspect", bad), 2, ("model.onnx", "length 4096", "needs 16"))


@case
def onnx_external_data_over_the_cap(folder: Path) -> Case:
    write(folder / "weights.bin", b"\x00" * 16)
    weight = _external("weights.bin", dims=(100000, 100000, 100), length=None)
    bad = write(folder / "model.onnx", onnx_model([onnx_node("Add", ["x", "w"], "y")], (weight,)))
    return Case(("inspect", bad), 2, ("model.onnx", "cap", "--max-tensor-size"))


@case
def onnx_function_external_data_escapes(folder: Path) -> Case:
    """External data named inside a model-local function: checked like the graph's own."""
    from onnx import helper

    (folder / "models").mkdir(exist_ok=True)
    constant = helper.make_node("Constant", [], ["c"], value=_external("../../../etc/passwd"))
    body = [constant, helper.make_node("Add", ["a", "c"], ["out"])]
    function = helper.make_function("local", "AddSecret", ["a"], ["out"], body,
                                    [helper.make_opsetid("", 17)])
    graph = helper.make_graph(
        [helper.make_node("AddSecret", ["x"], ["y"], domain="local", name="out")], "corpus",
        [helper.make_tensor_value_info("x", 1, [1, 4])],
        [helper.make_tensor_value_info("y", 1, None)])
    model = helper.make_model(graph, functions=[function], opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    bad = write(folder / "models" / "model.onnx", model.SerializeToString())
    return Case(("inspect", bad), 2, ("model.onnx", "external data", "outside"))


# -- nesting: counted before parsing ---------------------------------------------------

DEEP = 5000


@case
def prototxt_nested_too_deep(folder: Path) -> Case:
    bad = caffe_pair(folder, b"", 'name: "deep"\n' + "a { " * DEEP + "}" * DEEP)
    return Case(("inspect", bad), 2, ("model.prototxt", "nested more than 100"))


@case
def symbol_json_nested_too_deep(folder: Path) -> Case:
    bad = write(folder / "model-symbol.json",
                '{"nodes": [], "heads": ' + "[" * DEEP + "]" * DEEP + "}")
    return Case(("inspect", bad), 2, ("model-symbol.json", "nested more than 100"))


@case
def report_json_nested_too_deep(folder: Path) -> Case:
    write(folder / "report.json", '{"pairs": ' + "[" * DEEP + "]" * DEEP + "}")
    return Case(("report", str(folder)), 2, ("report.json", "nested more than 100"))


@case
def map_json_nested_too_deep(folder: Path) -> Case:
    path = write(folder / "map.json", '{"a": ' + "[" * DEEP + "]" * DEEP + "}")
    return Case(_compare(str(SCRIPT), str(ONNX), "--map", path), 2,
                ("map.json", "nested more than 100"))


@case
def config_toml_nested_too_deep(folder: Path) -> Case:
    path = write(folder / "parity.toml", "[a]\nmean = " + "[" * DEEP + "]" * DEEP + "\n")
    args = _compare(str(ONNX), str(SCRIPT), "--image", str(IMAGE), "--config", path)
    return Case(args, 2, ("parity.toml", "nested more than 100"))


@case
def keras_config_nested_too_deep(folder: Path) -> Case:
    with zipfile.ZipFile(folder / "model.keras", "w") as archive:
        archive.writestr("config.json", '{"config": ' + "[" * DEEP + "]" * DEEP + "}")
        archive.writestr("metadata.json", "{}")
    return Case(("inspect", str(folder / "model.keras")), 2,
                ("model.keras", "nested more than 100"))


@case
def max_depth_can_be_raised(folder: Path) -> Case:
    """Nesting of 150 passes --max-depth 200 and is then judged on its content."""
    path = write(folder / "map.json", '{"a": ' + "[" * 150 + "]" * 150 + "}")
    return Case(_compare(str(SCRIPT), str(ONNX), "--map", path, "--max-depth", "200"), 2,
                ("map.json", "not a node name"))


# -- pipes are never opened (opening one blocks) ---------------------------------------

def _fifo(path: Path) -> str:
    import os

    if not path.exists():
        os.mkfifo(path)
    return str(path)


@case
def report_json_is_a_pipe(folder: Path) -> Case:
    _fifo(folder / "report.json")
    return Case(("report", str(folder)), 2, ("report.json", "not a regular file"))


@case
def map_is_a_pipe(folder: Path) -> Case:
    pipe = _fifo(folder / "map.toml")
    return Case(_compare(str(SCRIPT), str(ONNX), "--map", pipe), 2,
                ("map.toml", "not a regular file"))


@case
def input_is_a_pipe(folder: Path) -> Case:
    pipe = _fifo(folder / "x.npy")
    return Case(_compare(str(ONNX), str(SCRIPT), "--input", pipe), 2,
                ("x.npy", "not a regular file"))


# -- values that would make a wrong verdict --------------------------------------------

@case
def atol_nan(folder: Path) -> Case:
    return Case(_compare(str(ONNX), str(SCRIPT), "--atol", "nan"), 2, ("atol", "finite"))


@case
def rtol_inf(folder: Path) -> Case:
    return Case(_compare(str(ONNX), str(SCRIPT), "--rtol", "inf"), 2, ("rtol", "finite"))


@case
def std_zero(folder: Path) -> Case:
    args = _compare(str(ONNX), str(SCRIPT), "--image", str(IMAGE), "--a-std", "0")
    return Case(args, 2, ("--a-std", "non-zero"))


@case
def std_two_values_for_three_channels(folder: Path) -> Case:
    args = _compare(str(ONNX), str(SCRIPT), "--image", str(IMAGE), "--a-std", "1,2")
    return Case(args, 2, ("--a-std", "three"))


@case
def seed_negative(folder: Path) -> Case:
    return Case(_compare(str(ONNX), str(SCRIPT), "--seed", "-1"), 2, ("--seed",))


@case
def config_size_not_positive(folder: Path) -> Case:
    path = write(folder / "parity.toml", "[a]\nsize = [0, -5]\n")
    args = _compare(str(ONNX), str(SCRIPT), "--image", str(IMAGE), "--config", path)
    return Case(args, 2, ("parity.toml", "size", "positive"))


# -- saved reports that are not reports ------------------------------------------------

@case
def report_json_is_a_directory(folder: Path) -> Case:
    (folder / "run" / "report.json").mkdir(parents=True, exist_ok=True)
    return Case(("report", str(folder / "run")), 2, ("report.json", "is a folder"))


@case
def report_coverage_not_a_table(folder: Path) -> Case:
    run = _saved_run(folder / "run")
    data = json.loads(Path(run[0]).read_text())
    data["coverage"] = 5
    path = write(folder / "report.json", json.dumps(data))
    return Case(("report", path), 2, ("report.json", "not a parity JSON report"))


# -- messages --------------------------------------------------------------------------

@case
def factory_raises(folder: Path) -> Case:
    """An exception in the user's own factory: one line naming it, its file and line."""
    factory = write(folder / "net.py", "def build():\n    raise ValueError('no such layer')\n")
    return Case(_compare(f"{factory}:build", str(ONNX)), 2,
                ("net.py", "raised ValueError in build()", "no such layer", "line 2"))


@case
def factory_import_raises(folder: Path) -> Case:
    factory = write(folder / "net.py", "import not_a_module_anywhere\n")
    return Case(_compare(f"{factory}:build", str(ONNX)), 2,
                ("net.py", "ModuleNotFoundError", "not_a_module_anywhere"))


@case
def weights_for_an_onnx_model(folder: Path) -> Case:
    args = _compare(str(ONNX), str(SCRIPT), "--a-weights", str(STATE))
    return Case(args, 2, ("smallcnn_state.pt", "not used", "smallcnn.onnx"))


@case
def usage_error_is_one_line(folder: Path) -> Case:
    return Case(("compare", str(ONNX), "--no-such-option"), 2,
                ("no such option", "parity compare --help"))


@case
def save_several_nodes_as_npy(folder: Path) -> Case:
    args = ("run", str(ONNX), "--node", "/conv1/Conv", "--node", "/relu/Relu",
            "--save", str(folder / "x.npy"))
    return Case(args, 2, ("x.npy", "name the file .npz"), (str(folder / "x.npy"),))


@case
def exported_program_custom_op(folder: Path) -> Case:
    """A .pt2 calling an op from a library of its own: refused, the op named."""
    import torch

    @torch.library.custom_op("parity_corpus::twice", mutates_args=(),
                             schema="(Tensor x) -> Tensor")
    def twice(x):  # the schema gives the types
        return x * 2

    twice.register_fake(lambda x: torch.empty_like(x))

    class Twice(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return twice(x) + 1

    program = torch.export.export(Twice(), (torch.zeros(4),))
    torch.export.save(program, str(folder / "model.pt2"))
    return Case(("inspect", str(folder / "model.pt2")), 2,
                ("model.pt2", "parity_corpus::twice"))


def main(argv: list[str]) -> int:
    """``build_corpus.py DIR``: write the corpus and print its cases as JSON."""
    if len(argv) != 1:
        print("usage: build_corpus.py DIR", file=sys.stderr)
        return 2
    cases = build_corpus(Path(argv[0]))
    print(json.dumps([asdict(c) for c in cases], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
