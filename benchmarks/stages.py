"""Capture and end-to-end cost per stage, against the plain forward, on ResNet-50 and BERT-base.

``python benchmarks/stages.py`` (full sizes, about 10 minutes here) or ``--quick`` (the
smallcnn fixture pair and a 2-layer BERT, under a minute). Every measurement runs in fresh
processes, parity's and the plain ones interleaved; each ratio is printed as
median (min–max) over the repetitions and the table is written to ``--output``.

Rows per side: the capture's cold cost (open + graph + first run to every node) against the
plain load + first forward, its warm run against a warm plain forward, and the stages.
Rows per pair: ``parity.compare`` from the two paths (loading included, imports excluded)
against plain load + forward of both; the ``parity compare`` CLI process against a process
doing the plain load + forward of both (wall time and peak RSS).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from measure import HERE, Child, Samples, parity_cli, run_child, samples
from table import Row, machine, markdown, ratio, sizes, timing, verdict

CAPTURE_TARGET, COMPARE_TARGET, PROCESS_TARGET, MEMORY_TARGET = 1.2, 1.2, 1.1, 1.3
FIXTURES = HERE.parent / "fixtures"


@dataclass(frozen=True)
class Case:
    """Two model files compared, fed one array (``inputs``) or a random normal shape."""

    label: str
    a: str
    b: str
    inputs: str | None = None
    input_shape: tuple[int, ...] | None = None
    tol: float = 1e-4

    def args(self) -> dict[str, object]:
        return {"a": self.a, "b": self.b, "inputs": self.inputs,
                "input_shape": self.input_shape, "tol": self.tol}

    def cli(self) -> tuple[str, ...]:
        feed = (("--input", self.inputs) if self.inputs else
                ("--input-shape", ",".join(map(str, self.input_shape or ()))))
        return parity_cli("compare", self.a, self.b, *feed, "--format", "json", "--atol",
                          str(self.tol), "--rtol", str(self.tol))


def stage_worker(task: str, case: Case) -> tuple[str, ...]:
    import json

    return (str(HERE / "stage_workers.py"), task, json.dumps(case.args()))


def export_cases(work: Path, quick: bool) -> list[Case]:
    """The model pairs, exported into ``work`` unless already there."""
    if quick:
        cases = [Case("smallcnn TorchScript vs ONNX", str(FIXTURES / "smallcnn.pt"),
                      str(FIXTURES / "smallcnn.onnx"), input_shape=(1, 3, 32, 32))]
    else:
        cases = [_resnet50(work)]
    return [*cases, *_bert(work, quick)]


def _resnet50(work: Path) -> Case:
    from exports import resnet50_files
    from resnet50 import INPUT_SHAPE

    ts, onnx_path = resnet50_files(work, "trace", "folded")
    return Case("ResNet-50 TorchScript vs ONNX (folded)", str(ts), str(onnx_path),
                input_shape=INPUT_SHAPE)


def _bert(work: Path, quick: bool) -> list[Case]:
    """BERT exported by both ONNX exporters (TorchScript-based and dynamo), and traced."""
    import numpy as np
    import torch
    from bert import build, token_ids

    stem = "bert_quick" if quick else "bert"
    legacy, dynamo = work / f"{stem}.onnx", work / f"{stem}_dynamo.onnx"
    traced, ids = work / f"{stem}.pt", work / f"{stem}_ids.npy"
    if not dynamo.exists() or not traced.exists():
        model, x = build(quick), token_ids()
        np.save(ids, x.numpy())
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.jit.trace(model, x, strict=False).save(str(traced))
            torch.onnx.export(model, (x,), str(legacy), dynamo=False,
                              input_names=["input_ids"])
            torch.onnx.export(model, (x,), str(dynamo), dynamo=True,
                              input_names=["input_ids"], external_data=False)
    label = "BERT 2-layer d=128" if quick else "BERT-base"
    return [Case(f"{label} ONNX (TorchScript exporter) vs ONNX (dynamo)", str(legacy),
                 str(dynamo), inputs=str(ids)),
            Case(f"{label} TorchScript vs ONNX (TorchScript exporter)", str(traced),
                 str(legacy), inputs=str(ids))]


@dataclass
class Runs:
    """One case's fresh-process runs, by task."""

    plain: list[Child]
    held: list[Child]
    capture: list[Child]
    compare: list[Child]
    cli: list[Child]


def measure(case: Case, repeats: int) -> Runs:
    runs = Runs([], [], [], [], [])
    for _ in range(repeats):  # interleaved, so load on the machine hits all alike
        runs.plain.append(run_child(stage_worker("plain", case)))
        runs.held.append(run_child(stage_worker("plain_held", case)))
        runs.capture.append(run_child(stage_worker("capture", case)))
        runs.compare.append(run_child(stage_worker("compare", case)))
        runs.cli.append(run_child(case.cli(), ok=(0, 1)))
    return runs


def rows(case: Case, runs: Runs) -> list[Row]:
    out = []
    for side, spec in (("a", case.a), ("b", case.b)):
        plain = [c.result[side] for c in runs.plain]
        ours = [c.result[side] for c in runs.capture]
        what = f"{case.label}, side {side.upper()} {_kind(spec)} ({ours[0]['nodes']} nodes)"
        cold = _per_run([o["open"] + o["graph"] + o["first"] for o in ours],
                        [p["load"] + p["first"] for p in plain])
        warm = _per_run([o["warm"] for o in ours], [p["warm"] for p in plain])
        out += [
            Row("capture", f"{what}: open + first run to every node vs plain load + first "
                "forward", timing(cold[0]), timing(cold[1]), ratio(cold[2]),
                f"≤ {CAPTURE_TARGET}×", verdict(cold[2].median, CAPTURE_TARGET)),
            Row("capture", f"{what}: warm run to every node vs warm plain forward",
                timing(warm[0]), timing(warm[1]), ratio(warm[2]), f"≤ {CAPTURE_TARGET}×",
                verdict(warm[2].median, CAPTURE_TARGET)),
            Row("capture", f"{what}: stages open / graph / first run / warm run (info); "
                "plain load / first / warm", " / ".join(
                    timing(samples([o[k] for o in ours])) for k in
                    ("open", "graph", "first", "warm")),
                " / ".join(timing(samples([p[k] for p in plain]))
                           for k in ("load", "first", "warm"))),
        ]
    both = [sum(c.result[s]["load"] + c.result[s]["first"] for s in "ab") for c in runs.plain]
    inproc = _per_run([c.result["seconds"] for c in runs.compare], both)
    whole = _per_run([c.wall for c in runs.cli], [c.wall for c in runs.plain])
    peak = _per_run([c.peak for c in runs.cli], [c.peak for c in runs.plain])
    held = _per_run([c.peak for c in runs.cli], [c.peak for c in runs.held])
    pairs = runs.compare[0].result
    out += [
        Row("compare", f"{case.label}: `parity.compare` from the paths ({pairs['pairs']} "
            f"pairs, {pairs['failed']} outside tolerance) vs plain load + forward of both",
            timing(inproc[0]), timing(inproc[1]), ratio(inproc[2]), f"≤ {COMPARE_TARGET}×",
            verdict(inproc[2].median, COMPARE_TARGET)),
        Row("compare", f"{case.label}: `parity compare` process vs a plain process (wall)",
            timing(whole[0]), timing(whole[1]), ratio(whole[2]), f"≤ {PROCESS_TARGET}×",
            verdict(whole[2].median, PROCESS_TARGET)),
        Row("compare", f"{case.label}: same, peak RSS", sizes(peak[0]), sizes(peak[1]),
            ratio(peak[2]), f"≤ {MEMORY_TARGET}×", verdict(peak[2].median, MEMORY_TARGET)),
        Row("compare", f"{case.label}: same, peak RSS against a plain process holding both "
            "models at once (info)", sizes(held[0]), sizes(held[1]), ratio(held[2])),
    ]
    return out


def _per_run(ours: list[float], plain: list[float]) -> tuple[Samples, Samples, Samples]:
    """Both series and their per-repetition ratios."""
    a, b = samples(ours), samples(plain)
    return a, b, a.ratio(b)


def _kind(spec: str) -> str:
    return {"pt": "TorchScript", "onnx": "ONNX Runtime", "pt2": ".pt2"}.get(
        spec.rsplit(".", 1)[-1], "factory")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small models, one repetition")
    parser.add_argument("--repeats", type=int, help="fresh-process repetitions (default 5; "
                                                    "1 with --quick)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) /
                        "parity-bench-models", help="where exported models are kept")
    parser.add_argument("--output", type=Path, default=HERE / "stages.md")
    parser.add_argument("--only", help="measure only the cases whose label contains this "
                                       "(case-insensitive), e.g. resnet or bert")
    opts = parser.parse_args()
    opts.work.mkdir(parents=True, exist_ok=True)
    repeats = opts.repeats or (1 if opts.quick else 5)
    table: list[Row] = []
    cases = [c for c in export_cases(opts.work, opts.quick)
             if not opts.only or opts.only.lower() in c.label.lower()]
    for case in cases:
        print(f"measuring {case.label} ...", file=sys.stderr, flush=True)
        table += rows(case, measure(case, repeats))
    notes = [f"{repeats} fresh processes per measurement, parity's and the plain ones "
             "interleaved; median (min–max); ratios are per repetition.",
             "Plain: torch.jit.load + module(x) under no_grad; onnxruntime.InferenceSession "
             "(default ORT_ENABLE_ALL) + run(None). parity's ONNX Runtime capture runs at "
             "ORT_ENABLE_BASIC with the fetched nodes as outputs. Imports excluded in-process; "
             "the process rows include them."]
    text = markdown(table, machine(), notes)
    print(text)
    opts.output.write_text(f"# Stage benchmark{' (quick)' if opts.quick else ''}\n\n"
                           f"`python benchmarks/stages.py{' --quick' if opts.quick else ''}`"
                           f"\n\n{text}", encoding="utf-8")


if __name__ == "__main__":
    main()
