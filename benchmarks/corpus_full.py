"""The real-model corpus at full size: BERT-base, ResNet-50, ConvNeXt-tiny (and any other
corpus model) through the ``parity compare`` CLI, as a user runs it.

``python benchmarks/corpus_full.py [--model bert ...] [--folder DIR] [--random] [--keep]
[--size small]``

Each model is built from its transformers config with seeded random weights (nothing is
downloaded; ``tests/realmodels``), written as TorchScript ``.pt``, both ONNX exports and a
``model.py:build`` factory, with its inputs (``inputs-default.npz``: images, or BERT's int64
ids with a padded attention mask). Each correct pair is compared once in a fresh process
(``--inputs`` the file; with ``--random`` also on typed random inputs), and one row is
printed per run: pairs, unmatched A/B, coverage A/B, exit code, wall seconds (loading,
both forward passes, alignment and the verdict). The exports are deleted afterwards unless
``--keep``. Full size needs about 1.5 GB of disk per model and a few minutes each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import realmodels  # noqa: E402

DEFAULT_MODELS = ("bert", "resnet", "convnext")
FORMS = ("pt", "onnx_legacy", "onnx_dynamo", "factory")
PAIRS = (("onnx_legacy", "pt"), ("onnx_dynamo", "pt"), ("onnx_legacy", "onnx_dynamo"),
         ("factory", "onnx_dynamo"))


def _compare(a: str, b: str, source: list[str]) -> dict[str, object]:
    """One ``parity compare`` process: the figures of its JSON report and its exit code."""
    command = [str(Path(sys.executable).with_name("parity")), "compare", a, b, *source,
               "--format", "json"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    row: dict[str, object] = {"exit": done.returncode, "seconds": seconds}
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        row["error"] = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return row
    first = report.get("first_divergence") or {}
    row.update(pairs=len(report["pairs"]), unmatched=(len(report["unmatched_a"]),
                                                      len(report["unmatched_b"])),
               coverage=(report["coverage"]["a"], report["coverage"]["b"]),
               first=first.get("a", "") if isinstance(first, dict) else str(first))
    return row


def _line(model: str, a: str, b: str, inputs: str, row: dict[str, object]) -> str:
    if "error" in row:
        figures = f"error: {row['error']}"
    else:
        cov_a, cov_b = row["coverage"]  # type: ignore[misc]
        un_a, un_b = row["unmatched"]  # type: ignore[misc]
        figures = (f"{row['pairs']} | {un_a}/{un_b} | {cov_a:.0%}/{cov_b:.0%} | "
                   f"{row['first'] or '-'}")
    return (f"| {model} | {a} | {b} | {inputs} | {figures} | {row['exit']} | "
            f"{row['seconds']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", choices=sorted(realmodels.MODELS))
    parser.add_argument("--folder", type=Path, help="Where the exports go (default: a "
                                                    "temporary folder).")
    parser.add_argument("--random", action="store_true",
                        help="Also compare each pair on typed random inputs.")
    parser.add_argument("--keep", action="store_true", help="Keep the exports.")
    parser.add_argument("--size", choices=("small", "full"), default="full",
                        help="small: the test suite's configs, to try the script quickly.")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="parity-corpus-full-"))
    print("| model | A | B | inputs | pairs | unmatched A/B | coverage A/B | first divergence "
          "| exit | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    try:
        for model in args.model or DEFAULT_MODELS:
            forms = {}
            for form in FORMS:
                start = time.perf_counter()
                forms[form] = realmodels.export(model, form, args.size, folder)
                print(f"<!-- {model} {form} written in {time.perf_counter() - start:.1f} s -->",
                      flush=True)
            inputs = str(realmodels.inputs_file(model, args.size, folder))
            sources = [("--inputs", ["--inputs", inputs])]
            if args.random:
                sources.append(("--random", ["--random"]))
            for a, b in PAIRS:
                for label, source in sources:
                    row = _compare(forms[a], forms[b], source)
                    print(_line(model, a, b, label, row), flush=True)
            if not args.keep:
                shutil.rmtree(folder / args.size / model, ignore_errors=True)
    finally:
        if not args.keep and args.folder is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
