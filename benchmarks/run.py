"""parity's performance, measured against the alternatives: ``python benchmarks/run.py``.

Prints one table of ratios measured in this run (and writes it to
``benchmarks/results.md``); see docs/performance.md for what each row means.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from measure import (
    HERE,
    children,
    interleaved,
    parity_cli,
    polygraphy_cli,
    run_child,
    samples,
    timed,
    worker,
)
from plain import plain_forward
from table import Row, machine, markdown, ratio, seconds, size, sizes, timing, verdict

from parity.api import compare, make_feeds, open_model
from parity.backend import Backend

ROOT = HERE.parent
FIXTURES = ROOT / "fixtures"
MXNET = str(FIXTURES / "mobilefacenet" / "model-symbol.json")
CAFFE = str(FIXTURES / "mobilefacenet" / "model_fixed.prototxt")
FACE = str(FIXTURES / "face.jpg")
RESNET = f"{HERE / 'resnet50.py'}:build"
WIDE = f"{HERE / 'widecnn.py'}:build"
CAPTURE_TARGET, COMPARE_TARGET = 1.2, 1.5
@dataclass(frozen=True)
class Config:
    """Sizes and repetitions of one run."""

    repeats: int  # in-process timings
    child_repeats: int  # fresh-process measurements
    naive_sample: int  # ResNet-50 layers run the per-layer way, then extrapolated
    resnet_shape: tuple[int, ...]
    wide_shape: tuple[int, ...]
    work: Path
    tol: float = 1e-4


@dataclass(frozen=True)
class Case:
    """Two models compared, with the inputs they are fed."""

    label: str
    a: str
    b: str
    image: str | None = None
    input_shape: tuple[int, ...] | None = None
    module: str | None = None  # eager module the per-layer hooks go on (torch side)

    def args(self, tol: float, **extra: object) -> dict[str, object]:
        """Arguments of a ``workers.py`` task."""
        return {"a": self.a, "b": self.b, "image": self.image, "module": self.module,
                "input_shape": self.input_shape, "atol": tol, **extra}

    def feeds(self, a: Backend, b: Backend) -> tuple[dict, dict]:
        fa, fb = make_feeds(a, b, image=self.image, input_shape=self.input_shape)
        return fa.arrays, fb.arrays


def export_resnet(cfg: Config) -> list[str]:
    """ResNet-50 as TorchScript, ONNX with BatchNorm kept, ONNX folded (the default) and a
    ``torch.export`` program (.pt2)."""
    from exports import resnet50_files

    forms = ("trace", "kept", "folded", "pt2")
    return [str(p) for p in resnet50_files(cfg.work, *forms, shape=cfg.resnet_shape)]


def export_mx_resnet(cfg: Config) -> tuple[str, str]:
    """MXNet's model-zoo ResNet-18 (seeded weights, BatchNorm statistics randomised) as a
    symbol + params, and converted to Caffe: the test corpus's builders."""
    sys.path.insert(0, str(HERE.parent))
    from tests.realmodels import mxnet_models

    shape = cfg.resnet_shape
    net = mxnet_models.build("mx_resnet18", "full", side=shape[-1])
    symbol = mxnet_models.symbol(net, cfg.work / "mx_resnet18")
    caffe = mxnet_models.to_caffe(symbol, shape, cfg.work / "mx_resnet18.prototxt")
    return str(symbol), str(caffe)


def import_rows(cfg: Config) -> list[Row]:
    """Seconds to import each framework (through its parity adapter), fresh processes."""
    modules = {"parity (core)": "parity.api", "onnx + onnxruntime": "parity.backends.onnxrt",
               "torch": "parity.backends.pytorch", "mxnet": "parity.backends.mxnet_symbol",
               "opencv": "parity.backends.opencv_caffe"}
    rows = []
    for label, module in modules.items():
        runs = children((str(HERE / "import_time.py"), module), cfg.child_repeats)
        seconds_ = samples([c.result["s"] for c in runs])
        rows.append(Row("import", f"import {label}", timing(seconds_)))
    return rows


def capture_rows(cfg: Config, models: list[tuple[str, str, Case]]) -> list[Row]:
    """Per backend: ``backend.run(feeds, all nodes)`` against the framework's plain forward."""
    rows = []
    for label, spec, case in models:
        backend = open_model(spec)
        feeds = case.feeds(backend, backend)[0]
        names = [node.name for node in backend.graph]
        plain = plain_forward(backend, feeds)
        capture, base = interleaved(
            [lambda b=backend, f=feeds, n=names: b.run(f, n), plain], cfg.repeats)
        rel = capture.ratio(base)
        rows.append(Row("capture", f"{label}: capture-all run ({len(names)} nodes) vs plain "
                        "forward", timing(capture), timing(base), ratio(rel),
                        f"≤ {CAPTURE_TARGET}×", verdict(rel.median, CAPTURE_TARGET)))
        if backend.name in ("onnxrt", "caffe"):
            rows.append(_basic_row(cfg, label, backend, feeds, names))
        backend.close()
    return rows


def _basic_row(cfg: Config, label: str, backend: Backend, feeds: dict, names: list[str]) -> Row:
    """Capture against a plain forward without the fusions parity turns off."""
    plain = plain_forward(backend, feeds, basic=True)
    capture, base = interleaved([lambda: backend.run(feeds, names), plain], cfg.repeats)
    level = "ORT_ENABLE_BASIC" if backend.name == "onnxrt" else "fusion and Winograd off"
    return Row("capture", f"{label}: same, plain forward at {level} (info)",
               timing(capture), timing(base), ratio(capture.ratio(base)))


def compare_rows(cfg: Config, case: Case) -> list[Row]:
    """Load times, first and warm ``parity.compare`` against the two plain forwards."""
    loads_a, loads_b, firsts = [], [], []
    for _ in range(cfg.child_repeats):
        loads_a.append(timed(lambda: open_model(case.a).close()))
        loads_b.append(timed(lambda: open_model(case.b).close()))
        a, b = open_model(case.a), open_model(case.b)
        firsts.append(timed(lambda a=a, b=b: _compare(cfg, case, a, b)))
    feeds_a, feeds_b = case.feeds(a, b)
    plain_a, plain_b = plain_forward(a, feeds_a), plain_forward(b, feeds_b)
    warm, base = interleaved([lambda: _compare(cfg, case, a, b),
                              lambda: (plain_a(), plain_b())], cfg.repeats)
    rel = warm.ratio(base)
    pairs = len(_compare(cfg, case, a, b).pairs)
    return [
        Row("compare", f"{case.label}: `parity.compare`, models open ({pairs} pairs) vs "
            "plain A + plain B", timing(warm), timing(base), ratio(rel),
            f"≤ {COMPARE_TARGET}×", verdict(rel.median, COMPARE_TARGET)),
        Row("compare", f"{case.label}: load A / load B; first compare after loading (info)",
            f"{timing(samples(loads_a))} / {timing(samples(loads_b))}; "
            f"{timing(samples(firsts))}"),
    ]


def _compare(cfg: Config, case: Case, a: Backend, b: Backend) -> object:
    return compare(a, b, image=case.image, input_shape=case.input_shape, atol=cfg.tol,
                   rtol=cfg.tol)


def naive_rows(cfg: Config, case: Case, sample: int | None) -> list[Row]:
    """``parity.compare`` against one forward per layer on each side, fresh processes."""
    base = run_child(worker("load", **case.args(cfg.tol)))
    ours = children(worker("parity", **case.args(cfg.tol)), cfg.child_repeats)
    naive = children(worker("naive", **case.args(cfg.tol, sample=sample)), cfg.child_repeats)
    info = naive[0].result
    scale = info["total"] / info["sampled"]
    t_ours = samples([c.result["seconds"] for c in ours])
    t_naive = samples([c.result["seconds"] * scale for c in naive])
    m_ours, m_naive = samples([c.peak for c in ours]), samples([c.peak for c in naive])
    how = ("all" if scale == 1 else f"{info['sampled']} sampled, ×{scale:.1f} extrapolated")
    return [
        Row("per-layer", f"{case.label}: compare wall time vs one forward per layer "
            f"({info['total']} pairs, {how})", timing(t_ours), timing(t_naive),
            ratio(samples([t_ours.median / t_naive.median])), "< 1×",
            verdict(t_ours.median / t_naive.median, 1)),
        Row("per-layer", f"{case.label}: peak RSS (after loading: {size(base.peak)})",
            sizes(m_ours), sizes(m_naive), ratio(samples([m_ours.median / m_naive.median]))),
    ]


def polygraphy_rows(cfg: Config, model: str, other: str) -> list[Row]:
    """parity's CLI against Polygraphy's mark-all save / load-and-compare workflow."""
    saved = cfg.work / "polygraphy_outputs.json"
    common = ["--onnxrt", "--onnx-outputs", "mark", "all", "--atol", str(cfg.tol),
              "--rtol", str(cfg.tol)]
    ours, theirs = [], []
    for _ in range(cfg.child_repeats):
        ours.append(run_child(parity_cli("compare", model, other, "--format", "json",
                                          "--atol", str(cfg.tol), "--rtol", str(cfg.tol)),
                              ok=(0, 1)))
        save = run_child(polygraphy_cli("run", model, *common, "--save-outputs", str(saved)))
        load = run_child(polygraphy_cli("run", other, *common, "--load-outputs", str(saved)),
                         ok=(0, 1))
        theirs.append((save, load))
    t_ours = samples([c.wall for c in ours])
    t_theirs = samples([s.wall + lo.wall for s, lo in theirs])
    m_ours = samples([c.peak for c in ours])
    m_theirs = samples([max(s.peak, lo.peak) for s, lo in theirs])
    report = json.loads(ours[0].stdout)
    return [
        Row("polygraphy", "ResNet-50 ONNX (BN kept) vs folded ONNX: CLI wall time, "
            "both processes", timing(t_ours), timing(t_theirs),
            ratio(samples([t_ours.median / t_theirs.median])), "< 1×",
            verdict(t_ours.median / t_theirs.median, 1)),
        Row("polygraphy", "same: peak RSS (Polygraphy: larger of its two processes)",
            sizes(m_ours), sizes(m_theirs), ratio(samples([m_ours.median / m_theirs.median]))),
        Row("polygraphy", "same: what is compared (info)", _parity_counts(report),
            _polygraphy_counts(theirs[0][1].stdout, saved)),
    ]


def _parity_counts(report: dict) -> str:
    failed = sum(p["status"] != "ok" for p in report["pairs"])
    skipped = len(report["skipped_a"]) + len(report["skipped_b"])
    return f"{len(report['pairs'])} aligned pairs, {failed} outside tolerance, {skipped} skipped"


def _polygraphy_counts(stdout: str, saved: Path) -> str:
    passed, failed = stdout.count("PASSED | Output"), stdout.count("FAILED | Output")
    return (f"{passed + failed} same-name tensors, {failed} outside tolerance; "
            f"{size(saved.stat().st_size)} of saved JSON")


def startup_rows(cfg: Config) -> list[Row]:
    """``parity --help`` and an ONNX-only compare in fresh processes; frameworks imported."""
    onnx_pair = [str(FIXTURES / "smallcnn.onnx"), str(FIXTURES / "smallcnn_folded.onnx")]
    rows = []
    for what, args in (("parity --help", ["--help"]),
                       ("parity compare smallcnn.onnx smallcnn_folded.onnx --format json",
                        ["compare", *onnx_pair, "--format", "json"])):
        runs = children(parity_cli(*args), cfg.child_repeats, ok=(0, 1))
        loaded = runs[0].loaded
        rows.append(Row("start-up", f"`{what}` (fresh process)", timing(samples(
            [c.wall for c in runs])), f"imports: {', '.join(loaded) or 'no framework'}"))
    return rows


def memory_rows(cfg: Config) -> list[Row]:
    """Peak RSS of ``parity compare`` on a wide CNN against keeping every activation."""
    from widecnn import activation_bytes

    shape = cfg.wide_shape
    case = Case("wide CNN", WIDE, WIDE, input_shape=shape)
    base = run_child(worker("load", **case.args(cfg.tol)))
    ours = run_child(parity_cli("compare", WIDE, WIDE, "--format", "json", "--input-shape",
                                 ",".join(map(str, shape))), ok=(0, 1))
    keep = run_child(worker("keep", **case.args(cfg.tol)))
    total = activation_bytes(shape[2], shape[3], shape[0])
    held = keep.result["bytes_a"] + keep.result["bytes_b"]
    extra = ours.peak - base.peak
    return [
        Row("memory", f"wide CNN {shape}: activations per side {size(total)} from the shapes "
            f"({keep.result['points']} points; held by the keep-all run: {size(held)}) (info)",
            f"compare {seconds(ours.wall)}", f"keep-all {seconds(keep.wall)}"),
        Row("memory", f"same: peak RSS, `parity compare` vs `backend.run` on both sides, "
            f"both dicts kept (after loading: {size(base.peak)})", size(ours.peak),
            size(keep.peak), ratio(samples([ours.peak / keep.peak]))),
        Row("memory", "same: parity's peak above loading vs one side's activations",
            size(extra), size(total), ratio(samples([extra / total])), "< 1×",
            verdict(extra, total)),
    ]


def sections(cfg: Config, skip_polygraphy: bool, skip_memory: bool
             ) -> list[tuple[str, Callable[[], list[Row]]]]:
    """The measurements in order, as ``(title, thunk)``."""
    ts, onnx_kept, onnx_folded, exported = export_resnet(cfg)
    mx_resnet, caffe_resnet = export_mx_resnet(cfg)
    shape = cfg.resnet_shape
    resnet = Case("ResNet-50 TorchScript vs ONNX (BN kept)", ts, onnx_kept, input_shape=shape,
                  module=RESNET)
    folded = Case("ResNet-50 TorchScript vs ONNX (folded)", ts, onnx_folded, input_shape=shape)
    face = Case("MobileFaceNet MXNet vs Caffe", MXNET, CAFFE, image=FACE)
    mx_case = Case("ResNet-18 MXNet vs Caffe", mx_resnet, caffe_resnet, input_shape=shape)
    models = [("ResNet-50 TorchScript", ts, resnet),
              ("ResNet-50 torch.export (.pt2)", exported, resnet),
              ("ResNet-50 torch.fx factory", RESNET, resnet),
              ("ResNet-50 ONNX (BN kept)", onnx_kept, resnet),
              ("ResNet-50 ONNX (folded)", onnx_folded, resnet),
              ("ResNet-18 MXNet", mx_resnet, mx_case), ("ResNet-18 Caffe", caffe_resnet, mx_case),
              ("MobileFaceNet MXNet", MXNET, face), ("MobileFaceNet Caffe", CAFFE, face)]
    plan = [("imports", lambda: import_rows(cfg)),
            ("capture", lambda: capture_rows(cfg, models)),
            *((f"compare {c.label}", lambda c=c: compare_rows(cfg, c))
              for c in (resnet, folded, face)),
            ("per-layer ResNet-50", lambda: naive_rows(cfg, resnet, cfg.naive_sample)),
            ("per-layer MobileFaceNet", lambda: naive_rows(cfg, face, None)),
            ("start-up", lambda: startup_rows(cfg))]
    if not skip_polygraphy:
        plan.append(("polygraphy", lambda: polygraphy_rows(cfg, onnx_kept, onnx_folded)))
    if not skip_memory:
        plan.append(("memory", lambda: memory_rows(cfg)))
    return plan


def notes(cfg: Config) -> list[str]:
    return [
        f"Times: median of {cfg.repeats} in-process runs after 2 warm-ups (plain and parity "
        f"alternated), or of {cfg.child_repeats} fresh processes; (min–max) in brackets. "
        "Ratios: median of the per-repetition ratios.",
        "Peak RSS: `VmHWM` of each child process, read by `benchmarks/peak.py` at its exit.",
        f"Tolerance atol = rtol = {cfg.tol} everywhere (ONNX Runtime vs TorchScript differ "
        "by float32 rounding of order 1e-5 on this ResNet-50).",
        "Plain forward = the framework's normal inference call with default options "
        "(ONNX Runtime ORT_ENABLE_ALL, OpenCV with layer fusion), outputs only.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--skip-polygraphy", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--only", default="", help="measure only the sections whose title "
                        "contains this (case-insensitive), e.g. capture")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parity-bench-") as work:
        cfg = _config(opts.quick, Path(work))
        rows: list[Row] = []
        for title, thunk in sections(cfg, opts.skip_polygraphy, opts.skip_memory):
            if opts.only.lower() not in title.lower():
                continue
            print(f"measuring {title} ...", file=sys.stderr, flush=True)
            rows += thunk()
    text = markdown(rows, machine(), notes(cfg) + _summary(rows))
    print(text)
    opts.output.write_text(("# Benchmark results (quick run)\n\n" if opts.quick else
                            "# Benchmark results\n\n") + "`python benchmarks/run.py`\n\n" + text)


def _config(quick: bool, work: Path) -> Config:
    if quick:
        return Config(3, 1, 3, (1, 3, 64, 64), (1, 3, 128, 128), work)
    return Config(7, 3, 12, (1, 3, 224, 224), (1, 3, 512, 512), work)


def _summary(rows: list[Row]) -> list[str]:
    held = [r for r in rows if r.verdict.endswith("holds")]
    missed = [r for r in rows if r.verdict.endswith("missed")]
    return [f"Targets: {len(held)} hold, {len(missed)} missed"
            + "".join(f"; missed: {r.what} ({r.ratio})" for r in missed)]


if __name__ == "__main__":
    main()
