"""The default verdict on real conversions: torch models (ResNet- and MobileNetV2-shaped,
BatchNorm statistics randomised) exported with both torch.onnx exporters, against their
torch.export source. Correct conversions pass at default settings; an injected bug fails
at exactly its layer; a bug only some inputs reach is caught with several inputs; float16
passes unless a layer overflows it."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity[torch] not installed")
onnx = pytest.importorskip("onnx", reason="parity[onnx] not installed")
pytest.importorskip("onnxruntime", reason="parity[onnx] not installed")

from click.testing import CliRunner  # noqa: E402
from realmodels.onnx_edits import to_float16  # noqa: E402
from torch import nn  # noqa: E402

import parity  # noqa: E402
from parity.cli import cli  # noqa: E402

SIZE = 32
pytestmark = pytest.mark.slow


def conv_bn(cin: int, cout: int, stride: int = 1, groups: int = 1, kernel: int = 3) -> list:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout)]


class Block(nn.Module):
    """A ResNet basic block (projection shortcut when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, stride), nn.ReLU(),
                                  *conv_bn(cout, cout))
        self.shortcut = (nn.Sequential(*conv_bn(cin, cout, stride, kernel=1))
                         if stride != 1 or cin != cout else nn.Identity())
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 8), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        self.layer1 = Block(8, 8, 1)
        self.layer2 = Block(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand, 3x3 depthwise, 1x1 project, ReLU6."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        hidden = cin * 4
        self.skip = stride == 1 and cin == cout
        self.body = nn.Sequential(*conv_bn(cin, hidden, kernel=1), nn.ReLU6(),
                                  *conv_bn(hidden, hidden, stride, groups=hidden), nn.ReLU6(),
                                  *conv_bn(hidden, cout, kernel=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.skip else self.body(x)


class TinyMobileNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 8, 2), nn.ReLU6())
        self.blocks = nn.Sequential(InvertedResidual(8, 8, 1), InvertedResidual(8, 16, 2),
                                    InvertedResidual(16, 16, 1))
        self.head = nn.Sequential(*conv_bn(16, 32, kernel=1), nn.ReLU6(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def build(cls: type[nn.Module]) -> nn.Module:
    """Seeded weights; BatchNorm affine and running statistics randomised per channel."""
    torch.manual_seed(0)
    model = cls()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for norm in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            c = norm.num_features
            norm.weight.copy_(0.5 + torch.rand(c, generator=generator))
            norm.bias.copy_(0.2 * torch.randn(c, generator=generator))
            norm.running_mean.copy_(0.3 * torch.randn(c, generator=generator))
            norm.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=generator))
    return model.eval()


def image(seed: int, brightness: float = 1.0) -> np.ndarray:
    """A smooth normalised image-like input (1, 3, SIZE, SIZE)."""
    rng = np.random.default_rng(seed)
    coarse = rng.standard_normal((1, 3, 4, 4))
    smooth = np.kron(coarse, np.ones((SIZE // 4, SIZE // 4)))
    return (brightness * (smooth + 0.3 * rng.standard_normal(smooth.shape))).astype(np.float32)


def export_onnx(model: nn.Module, path: Path, *, dynamo: bool, keep_bn: bool = False) -> Path:
    example = (torch.from_numpy(image(0)),)
    options = {} if dynamo else {"opset_version": 17}
    if keep_bn:  # no BatchNorm folding: each layer stays a node (float16 overflow test)
        options.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(path), input_names=["input"],
                          output_names=["logits"], dynamo=dynamo, **options)
    return path


def export_program(model: nn.Module, path: Path) -> Path:
    torch.export.save(torch.export.export(model, (torch.from_numpy(image(0)),)), str(path))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every artefact once: sources, both exports, injected bugs (ONNX side)."""
    folder = tmp_path_factory.mktemp("verdict")
    out: dict[str, Path] = {}
    models = {"resnet": build(TinyResNet), "mobilenet": build(TinyMobileNet)}
    for name, model in models.items():
        out[f"{name}.pt2"] = export_program(model, folder / f"{name}.pt2")
        for dynamo in (False, True):
            out[f"{name}.{int(dynamo)}"] = export_onnx(model, folder / f"{name}{int(dynamo)}.onnx",
                                                       dynamo=dynamo)
    for bug, (name, mutate) in BUGS.items():
        broken = copy.deepcopy(models[name])
        mutate(broken)
        out[bug] = export_onnx(broken, folder / f"{bug}.onnx", dynamo=False)
    return out


def _eps(model: nn.Module) -> None:
    model.layer2.body[4].eps *= 100  # second BatchNorm of layer2: 1e-5 -> 1e-3


def _weights(model: nn.Module) -> None:
    with torch.no_grad():
        model.blocks[1].body[3].weight.mul_(1.05)  # the strided depthwise conv


def _clip_lost(model: nn.Module) -> None:
    model.stem[2] = nn.ReLU()  # ReLU6 converted as ReLU


# bug -> (model, mutation); the pair the first divergence must be (its A node, .pt2 side)
BUGS = {"eps": ("resnet", _eps), "weights": ("mobilenet", _weights),
        "clip": ("mobilenet", _clip_lost)}
INJECTED = {"eps": "layer2.body.4", "weights": "blocks.1.body.4", "clip": "stem.2"}


def _ratios(report: parity.Report) -> list[float]:
    return [p.verdict.ratio for p in report.pairs if p.verdict and p.verdict.ratio is not None]


@pytest.mark.parametrize("name", ["resnet", "mobilenet"])
@pytest.mark.parametrize("dynamo", [0, 1])
def test_correct_conversions_pass_by_default(built, name, dynamo):
    report = parity.compare(built[f"{name}.pt2"], built[f"{name}.{dynamo}"],
                            inputs=image(1), samples=1)
    assert report.ok, [(p.a, p.verdict) for p in report.pairs if p.failed]
    assert {p.verdict.rule for p in report.pairs if p.verdict} == {"numerics"}
    assert len(report.pairs) >= 12
    assert max(_ratios(report)) < 0.5  # noise stays well under its bound


def test_the_same_conversion_fails_a_fixed_tight_atol(built):
    """The false alarm the numerics rule removes: allclose at 1e-7 calls rounding a bug."""
    report = parity.compare(built["resnet.pt2"], built["resnet.0"], inputs=image(1),
                            atol=1e-7, rtol=0)
    assert not report.ok
    assert {p.verdict.rule for p in report.pairs if p.verdict} == {"allclose"}
    assert all(p.verdict.bound is None for p in report.pairs if p.verdict)


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_an_injected_bug_is_the_first_divergence(built, bug):
    name = BUGS[bug][0]
    report = parity.compare(built[f"{name}.pt2"], built[bug], inputs=image(1, 3.0))
    first = report.first_divergence
    assert not report.ok and first is not None
    assert first.a.replace("_", ".").endswith(INJECTED[bug]), first.a
    assert first.verdict.ratio > 10 and first.verdict.amplification > 10
    before = report.pairs[:report.pairs.index(first)]
    assert not any(p.failed for p in before)
    noise = max(p.verdict.ratio for p in before if p.verdict and p.verdict.ratio is not None)
    assert noise < 0.5


def test_per_node_override_judges_only_the_matching_pairs(built):
    report = parity.compare(built["resnet.pt2"], built["eps"], inputs=image(1),
                            atol=["*layer2*=10"])
    rules = {p.a: p.verdict.rule for p in report.pairs if p.verdict}
    assert {r for a, r in rules.items() if "layer2" in a} == {"allclose *layer2*"}
    assert {r for a, r in rules.items() if "layer2" not in a and "fc" not in a} == {"numerics"}
    # The bug's pairs now pass (atol 10), and the error they hand on counts as accepted:
    # the pairs after them are judged on what they add themselves.
    assert report.ok
    assert max(p.verdict.error for p in report.pairs if "layer2" in p.a) > 1e-4


def test_a_bug_only_bright_inputs_reach_needs_several_inputs(built, tmp_path):
    """ReLU6 converted as ReLU differs only where the stem's activations pass 6."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    np.savez(inputs / "dark.npz", input=image(1, 0.2))
    np.savez(inputs / "bright.npz", input=image(2, 3.0))
    a, b = built["mobilenet.pt2"], built["clip"]
    missed = parity.compare(a, b, inputs=inputs / "dark.npz")
    assert missed.ok
    caught = parity.compare(a, b, inputs=inputs)
    assert not caught.ok
    assert caught.first_divergence.a.replace("_", ".").endswith(INJECTED["clip"])
    assert caught.first_divergence.worst_input == str(inputs / "bright.npz")
    assert caught.samples == (str(inputs / "bright.npz"), str(inputs / "dark.npz"))

    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["compare", str(a), str(b), "--inputs", str(inputs),
                                      "--format", "json", "--output", str(out)])
    assert result.exit_code == 1, result.output
    data = json.loads(out.read_text())
    assert data["first_divergence"]["worst_input"] == str(inputs / "bright.npz")
    assert data["samples"] == [str(inputs / "bright.npz"), str(inputs / "dark.npz")]


def test_random_samples_are_judged_on_their_worst(built):
    report = parity.compare(built["mobilenet.pt2"], built["clip"], samples=3, seed=4)
    assert report.samples == ("random seed 4", "random seed 5", "random seed 6")
    assert {p.worst_input for p in report.pairs} <= set(report.samples)


def test_float16_passes_unless_a_layer_overflows(tmp_path):
    model = build(TinyResNet)
    source = export_program(model, tmp_path / "net.pt2")
    half = to_float16(export_onnx(model, tmp_path / "net.onnx", dynamo=False, keep_bn=True),
                      tmp_path / "half.onnx")
    report = parity.compare(source, half, inputs=image(1, 3.0))
    assert report.ok, [(p.a, p.verdict) for p in report.pairs if p.failed]
    assert max(p.verdict.error for p in report.pairs if p.verdict) > 1e-4  # float16 noise

    # The same function with layer1's first conv 3e4 times larger and its BatchNorm scaled
    # back (mean up, gamma down): fine in float32, beyond float16's 65504 at that conv.
    with torch.no_grad():
        model.layer1.body[0].weight.mul_(3e4)
        model.layer1.body[1].running_mean.mul_(3e4)
        model.layer1.body[1].weight.div_(3e4)
    source = export_program(model, tmp_path / "big.pt2")
    half = to_float16(export_onnx(model, tmp_path / "big.onnx", dynamo=False, keep_bn=True),
                      tmp_path / "big_half.onnx")
    report = parity.compare(source, half, inputs=image(1, 3.0))
    first = report.first_divergence
    assert not report.ok and first is not None
    assert first.a.replace("_", ".").endswith("layer1.body.0"), first.a
    assert first.metrics.inf_b > 0
    assert [h.code for h in report.hints if h.node == first.a] == ["float_overflow"]


def _alive_during(monkeypatch, **compare_args) -> tuple[parity.Report, int]:
    """The report, and the most compared arrays alive at once while it was made (the
    inputs aside: they are read before the first run)."""
    import weakref

    import parity.diff

    seen: list[weakref.ref] = []
    alive = [0]
    original = parity.diff.diff_pair

    def spy(match, op, note, va, vb, judge):
        alive[0] = max(alive[0], sum(ref() is not None for ref in seen))
        if not match.how.startswith("input"):
            seen.extend([weakref.ref(va), weakref.ref(vb)])
        return original(match, op, note, va, vb, judge)

    monkeypatch.setattr(parity.diff, "diff_pair", spy)
    report = parity.compare(**compare_args)
    monkeypatch.undo()
    return report, alive[0]


def test_memory_with_several_inputs_holds_one_inputs_detail(built, monkeypatch):
    """Only the input worst at the first divergence keeps its tensors for diagnosis: the
    arrays alive at once do not grow with the number of inputs."""
    a, b = built["mobilenet.pt2"], built["weights"]
    one, alive_one = _alive_during(monkeypatch, a=a, b=b, samples=1, seed=4)
    six, alive_six = _alive_during(monkeypatch, a=a, b=b, samples=6, seed=4)
    print("compared arrays alive at once, 1 and 6 inputs:", alive_one, alive_six)
    assert not one.ok and not six.ok
    assert six.first_divergence.a == one.first_divergence.a
    # Keeping every input's roots would hold six times the first input's set; one kept
    # input plus the one being compared is at most twice it.
    assert alive_six <= 2 * alive_one, (alive_one, alive_six)


def test_save_tensors_keeps_every_input_and_diagnosis_the_worst(built, tmp_path):
    """The second input is the one that shows the bug: its tensors are saved beside the
    first's, and diagnosis looks at it (the first input's were let go)."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    np.savez(inputs / "a_dark.npz", input=image(1, 0.2))
    np.savez(inputs / "b_bright.npz", input=image(2, 3.0))
    folder = tmp_path / "run"
    report = parity.compare(built["mobilenet.pt2"], built["clip"], inputs=inputs,
                            save_tensors=folder)
    saved_a, saved_b = np.load(folder / "tensors_a.npz"), np.load(folder / "tensors_b.npz")
    count = len(report.pairs)
    assert sorted(saved_a.files) == sorted(saved_b.files) == sorted(
        [f"p{i:04d}" for i in range(count)] + [f"p{i:04d}_s1" for i in range(count)])
    first = report.first_divergence
    index = report.pairs.index(first)
    dark, bright = (np.abs(saved_a[k] - saved_b[k]).max()
                    for k in (f"p{index:04d}", f"p{index:04d}_s1"))
    assert first.worst_input == str(inputs / "b_bright.npz")
    assert bright == pytest.approx(first.metrics.max_abs)
    assert dark < 1e-3 < bright  # the clip is reached by the bright input only
    assert any(h.code == "activation_changed" and h.node in (first.a, first.b)
               for h in report.hints), report.hints


@pytest.mark.parametrize("wide", [True, False])
def test_float16_computed_in_float32_sees_weights_off_by_5_percent(tmp_path, monkeypatch, wide):
    """Where float16 values are computed in float32 (x86: ONNX Runtime casts), the bound
    counts their roundings to float16, not sqrt(K) of them: a conv's weights x1.05 stand
    clear of it. With float16 sums (ARM) the bound is looser."""
    from parity.verdict import numerics

    monkeypatch.setattr(numerics, "WIDE_ACCUMULATION", wide)
    model = build(TinyResNet)
    source = export_program(model, tmp_path / "net.pt2")
    half = to_float16(export_onnx(model, tmp_path / "net.onnx", dynamo=False, keep_bn=True),
                      tmp_path / "half.onnx")
    correct = parity.compare(source, half, inputs=image(1))
    assert correct.ok and max(_ratios(correct)) < 0.5
    with torch.no_grad():
        model.layer2.body[3].weight.mul_(1.05)
    bug = to_float16(export_onnx(model, tmp_path / "bug.onnx", dynamo=False, keep_bn=True),
                     tmp_path / "bug_half.onnx")
    broken = parity.compare(source, bug, inputs=image(1))
    first = broken.first_divergence
    print("float16, weights x1.05:", "wide" if wide else "narrow", first and first.verdict)
    assert not broken.ok and first.a.replace("_", ".").endswith("layer2.body.3"), first
    assert first.verdict.ratio > (3 if wide else 1)
