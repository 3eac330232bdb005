"""Write corpus models and inputs to a folder, for benchmarks and by hand.

From the repository root::

    python -m tests.realmodels DIR [--size full] [--model bert] [--form onnx_legacy] ...
    python -m tests.realmodels DIR --bug mx_resnet18-bn-eps     # an injected bug (bugs.BUGS)

writes each requested model in each requested form (all by default) with its inputs
(``inputs-default.npz``) under ``DIR/<size>/<model>/`` and prints the paths, so
``parity compare DIR/full/bert/legacy.onnx DIR/full/bert/model.pt --inputs
DIR/full/bert/inputs-default.npz`` reproduces a benchmark case.
"""

from __future__ import annotations

import argparse
import time

from . import MODELS, export, export_bug, inputs_file
from .bugs import BUGS


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.realmodels")
    parser.add_argument("folder")
    parser.add_argument("--size", choices=("small", "full"), default="small")
    parser.add_argument("--model", action="append", choices=sorted(MODELS))
    parser.add_argument("--form", action="append")
    parser.add_argument("--bug", action="append", choices=sorted(BUGS))
    args = parser.parse_args()
    for bug_id in args.bug or []:
        print(export_bug(bug_id, args.size, args.folder), flush=True)
    if args.bug and not args.model:
        return
    for name in args.model or list(MODELS):
        print(inputs_file(name, args.size, args.folder))
        for form in args.form or MODELS[name].forms:
            if form not in MODELS[name].forms:
                continue
            start = time.perf_counter()
            spec = export(name, form, args.size, args.folder)
            print(f"{spec}  ({time.perf_counter() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
