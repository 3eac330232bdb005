"""``python benchmarks/import_time.py MODULE``: seconds importing MODULE in a fresh process."""

from __future__ import annotations

import importlib
import json
import sys
import time

if __name__ == "__main__":
    start = time.perf_counter()
    importlib.import_module(sys.argv[1])
    print(json.dumps({"s": time.perf_counter() - start}))
