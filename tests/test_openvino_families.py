"""Op families read in each framework's own vocabulary (OpenVINO's ``Select`` is a where,
torch's ``select`` a gather), and a transpose of size-1 axes OpenVINO writes as a Reshape:
TorchScript vs the IR ``openvino.convert_model`` writes of the same module."""

import pytest
import torch

ov = pytest.importorskip("openvino", reason="parity[openvino] not installed")

import parity  # noqa: E402
from parity.align.structure import op_fits  # noqa: E402
from parity.graph import Node  # noqa: E402
from parity.ops import compatible, family  # noqa: E402


class _Gated(torch.nn.Module):
    """``torch.where`` (an OpenVINO Select) gated by ``h.select(-1, 0)`` (a Gather)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)
        self.out = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.proj(x)
        gate = h.select(-1, 0).unsqueeze(-1)
        return self.out(torch.where(h > gate, h, gate * 0.5))


class _OneHeadQkv(torch.nn.Module):
    """Falcon's fused q/k/v of one head each: split, then ``transpose(1, 2)`` of (2, 4, 1, 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = torch.nn.Linear(8, 24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).view(2, 4, 3, 8).split([1, 1, 1], dim=2)
        return q.transpose(1, 2) * 2.0 + k.transpose(1, 2) * v.transpose(1, 2)


def _convert(model: torch.nn.Module, folder, name: str):
    torch.manual_seed(0)
    model, x = model.eval(), torch.randn(2, 4, 8)
    torch.jit.trace(model, x).save(str(folder / f"{name}.pt"))
    ov.save_model(ov.convert_model(model, example_input=x), str(folder / f"{name}.xml"),
                  compress_to_fp16=False)
    return folder / f"{name}.pt", folder / f"{name}.xml", x.numpy()


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    torch.manual_seed(0)
    return _convert(_Gated(), tmp_path_factory.mktemp("families"), "gated")


@pytest.fixture(scope="module")
def one_head(tmp_path_factory):
    torch.manual_seed(0)
    return _convert(_OneHeadQkv(), tmp_path_factory.mktemp("families"), "one_head")


def test_each_framework_spelling_keeps_its_family():
    assert family("Select") == "where" and family("aten::select") == "gather"
    assert compatible("Select", "aten::where") and not compatible("Select", "aten::select")
    assert family("Multiply") == "mul" and family("multiply") == "mul"  # no collision: both


def test_openvino_select_pairs_with_torch_where(gated):
    pt, xml, x = gated
    report = parity.compare(pt, xml, inputs=x)
    pairs = {(p.a, p.b) for p in report.pairs}
    assert {("where", "aten::where/Select"), ("select", "aten::select/Gather")} <= pairs
    where = next(p for p in report.pairs if p.a == "where")
    assert where.shape_a == where.shape_b == (2, 4, 8) and where.metrics.max_abs < 1e-5
    assert report.ok and "where" not in report.unmatched_a


def test_transposes_of_one_head_pair_with_openvinos_reshapes(one_head):
    pt, xml, x = one_head
    report = parity.compare(pt, xml, inputs=x)
    assert report.ok and report.coverage == (1.0, 1.0), (report.unmatched_a,
                                                         report.unmatched_b)
    transposes = [p for p in report.pairs if p.a.startswith("transpose")]
    assert len(transposes) == 3 and all(p.shape_a == (2, 1, 4, 8) for p in transposes)
    assert all(p.metrics.max_abs < 1e-5 for p in transposes)


def test_only_a_transpose_keeping_element_order_fits_a_reshape():
    reshape = Node("r", "Reshape", shape=(2, 1, 4, 8))
    unit = Node("t", "aten::transpose", attrs={"dim0": 1, "dim1": 2}, shape=(2, 1, 4, 8))
    moving = Node("t", "aten::transpose", attrs={"dim0": 1, "dim1": 2}, shape=(2, 3, 4, 8))
    assert op_fits(unit, reshape) and op_fits(reshape, unit)
    assert not op_fits(moving, Node("r", "Reshape", shape=(2, 3, 4, 8)))
    assert not op_fits(unit, Node("r", "Reshape", shape=(2, 4, 1, 8)))
