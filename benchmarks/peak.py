"""Launcher recording a child's own peak RSS: ``python benchmarks/peak.py TARGET ARGS...``.

``TARGET`` is a script path or ``module:function``. At exit the process writes
``{"peak": bytes, "loaded": [frameworks imported]}`` to the file named by ``$PEAK_FILE``.
The peak is ``VmHWM`` of this process: ``ru_maxrss`` from ``wait4`` is not usable, as
Linux carries the parent's high-water mark into a child across fork and exec.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import runpy
import sys

FRAMEWORKS = ("torch", "mxnet", "cv2", "keras", "onnxruntime")


def high_water_mark() -> int:
    """Peak resident set size of this process in bytes (``VmHWM``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def record() -> None:
    loaded = [name for name in FRAMEWORKS if name in sys.modules]
    with open(os.environ["PEAK_FILE"], "w") as out:
        json.dump({"peak": high_water_mark(), "loaded": loaded}, out)


def launch(target: str, args: list[str]) -> None:
    """Run ``target`` as the main program with ``args``."""
    sys.argv = [target, *args]
    if target.endswith(".py"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        runpy.run_path(target, run_name="__main__")
        return
    module, function = target.split(":")
    sys.exit(getattr(importlib.import_module(module), function)())


if __name__ == "__main__":
    atexit.register(record)
    launch(sys.argv[1], sys.argv[2:])
