"""Pairs per minute of ``parity sweep``: local processes against Ray tasks.

``python benchmarks/sweep_rate.py [--pairs 12] [--workers 2]`` writes a sweep of the
smallcnn fixture pairs (TorchScript and ONNX references against their ONNX exports, one
per seed), runs it with the CLI on 1 and N local processes and on a local Ray instance of
N CPUs started here, and prints pairs/minute for each (Ray's start-up shown apart).
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
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parity-sweep-rate-") as work:
        folder = Path(work)
        path = sweep_file(folder, opts.pairs)
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
    print("| engine | sweep seconds | pairs/min | whole process seconds |")
    print("| --- | --- | --- | --- |")
    for engine, summary in results.items():
        print(f"| {engine} | {summary['seconds']:.1f} | {summary['pairs_per_minute']:.1f} | "
              f"{summary['process_seconds']:.1f} |")


if __name__ == "__main__":
    main()
