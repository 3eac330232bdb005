"""In a process parity owns, adapter imports are frozen out of the collector's passes; a
library caller's process is left alone, and no model is ever frozen."""

import json
import subprocess
import sys

from conftest import FIXTURES


def frozen_after(code: str) -> dict:
    """``gc.get_freeze_count()`` after ``code`` in a fresh interpreter, with what ``code``
    put in ``out``."""
    report = "print(json.dumps({'frozen': gc.get_freeze_count(), **out}))"
    probe = f"import gc, json\n{code}\n{report}"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_an_owned_process_freezes_what_an_adapter_import_builds():
    got = frozen_after(
        "from parity.startup import own_process\nown_process()\n"
        "from parity.registry import backend_class\n"
        "backend_class('onnxrt')\nout = {'enabled': gc.isenabled()}")
    assert got["frozen"] > 10_000  # onnx, onnxruntime and numpy's objects
    assert got["enabled"]


def test_a_library_process_is_left_as_it_is():
    got = frozen_after("from parity.registry import backend_class\n"
                       "backend_class('onnxrt')\nout = {}")
    assert got["frozen"] == 0


def test_compare_imports_both_adapters_before_it_loads_a_model():
    """Frozen objects are never collected: every freeze must come before a model loads."""
    got = frozen_after(
        "from parity.startup import own_process\nown_process()\n"
        "import parity.backend as backend\n"
        "events = []\n"
        "freeze, init = gc.freeze, backend.Backend.__init__\n"
        "gc.freeze = lambda: (events.append('freeze'), freeze())\n"
        "def load(self, *args, **kwargs):\n"
        "    events.append('load')\n"
        "    init(self, *args, **kwargs)\n"
        "backend.Backend.__init__ = load\n"
        "from parity.api import compare\n"
        f"compare({str(FIXTURES / 'smallcnn.pt')!r}, {str(FIXTURES / 'smallcnn.onnx')!r},"
        " input_shape=(1, 3, 32, 32))\n"
        "out = {'events': events}")
    assert got["events"] == ["freeze", "freeze", "load", "load"]
