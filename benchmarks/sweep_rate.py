"""Pairs per minute of ``parity sweep``: local processes against Ray tasks.

``python benchmarks/sweep_rate.py [--pairs 12] [--workers 2] [--resnet50 --work DIR]``
writes a sweep of the smallcnn fixture pairs (TorchScript and ONNX references against their
ONNX exports, one per seed), or with ``--resnet50`` of ResNet-50 (its TorchScript trace
against three ONNX exports: folded, BatchNorm kept, dynamo; one per seed; exported into
``--work`` unless there), runs it with the CLI on 1 and N local processes and on a local
Ray instance of N CPUs started here, and prints pairs/minute for each (Ray's start-up shown
apart).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import HERE

FIXTURES = HERE.parent / "fixtures"
EXPORTS = {"onnx": "smallcnn.onnx", "folded": "smallcnn_folded.onnx",
           "bad_eps": "smallcnn_bad_eps.onnx"}


def sweep_file(folder: Path, pairs: int) -> Path:
    """A sweep of ``pairs`` pairs: 2 references x 3 exports x pairs/6 seeds."""
    seeds = max(1, pairs // 6)
    exports = ", ".join(f'{k} = "{FIXTURES / v}"' for k, v in EXPORTS.items())
    text = ["atol = 1e-4", "rtol = 1e-4"]
    for name, reference in (("torchscript", "smallcnn.pt"), ("onnx", "smallcnn.onnx")):
        text += [f"[models.{name}]", f'reference = "{FIXTURES / reference}"',
                 f"exports = {{ {exports} }}"]
    text += [f"[inputs.seed{i}]\nseed = {i}" for i in range(seeds)]
    path = folder / "rate.sweep.toml"
    path.write_text("\n".join(text) + "\n")
    return path


def resnet50_sweep_file(folder: Path, work: Path, pairs: int) -> Path:
    """A sweep of ``pairs`` ResNet-50 pairs: the trace x 3 ONNX exports x pairs/3 seeds."""
    from exports import resnet50_files
    from resnet50 import INPUT_SHAPE

    forms = ("folded", "kept", "dynamo")
    trace, *exported = resnet50_files(work, "trace", *forms)
    listed = ", ".join(f'{form} = "{path}"' for form, path in zip(forms, exported))
    text = ["atol = 1e-4", "rtol = 1e-4", f"input_shape = {list(INPUT_SHAPE)}",
            "[models.resnet50]", f'reference = "{trace}"', f"exports = {{ {listed} }}"]
    text += [f"[inputs.seed{i}]\nseed = {i}" for i in range(max(1, pairs // 3))]
    path = folder / "resnet50.sweep.toml"
    path.write_text("\n".join(text) + "\n")
    return path


def run_cli(path: Path, output: Path, *args: str) -> dict:
    """One ``parity sweep`` process; its summary.json, wall time included."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from parity.cli import main; main()", "sweep",
                    str(path), "--output", str(output), "--format", "json", *args],
                   capture_output=True, check=False)
    summary = json.loads((output / "summary.json").read_text())
    summary["process_seconds"] = time.perf_counter() - start
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--resnet50", action="store_true",
                        help="ResNet-50 pairs instead of the smallcnn fixtures")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "parity-bench",
                        help="where the ResNet-50 exports are kept")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parity-sweep-rate-") as work:
        folder = Path(work)
        path = (resnet50_sweep_file(folder, opts.work, opts.pairs) if opts.resnet50
                else sweep_file(folder, opts.pairs))
        results = {
            "1 local process": run_cli(path, folder / "one", "--jobs", "1"),
            f"{opts.workers} local processes": run_cli(path, folder / "local", "--jobs",
                                                       str(opts.workers)),
        }
        import ray

        start = time.perf_counter()
        context = ray.init(num_cpus=opts.workers, include_dashboard=False,
                           log_to_driver=False)
        ray_start = time.perf_counter() - start
        try:
            results[f"Ray, {opts.workers} CPUs (instance already up)"] = run_cli(
                path, folder / "ray", "--ray", context.address_info["address"])
        finally:
            ray.shutdown()
        results[f"Ray, {opts.workers} CPUs (--ray starts it)"] = run_cli(
            path, folder / "ray_own", "--ray")
    worsts = {r["worst"] for r in results.values()}
    print(f"{len(results['1 local process']['pairs'])} pairs; worst pair {sorted(worsts)}; "
          f"ray.init(num_cpus={opts.workers}) {ray_start:.1f} s")
    print("| engine | sweep seconds | pairs/min | whole process seconds | worst pair |")
    print("| --- | --- | --- | --- | --- |")
    for engine, summary in results.items():
        print(f"| {engine} | {summary['seconds']:.1f} | {summary['pairs_per_minute']:.1f} | "
              f"{summary['process_seconds']:.1f} | {summary['worst']} |")


if __name__ == "__main__":
    main()
