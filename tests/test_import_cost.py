"""`import parity` and `parity --help` stay cheap: no numpy, no engine, no framework."""

import json
import subprocess
import sys

ENGINE = ("numpy", "parity.api", "parity.diff", "parity.metrics", "parity.backend", "torch",
          "onnxruntime", "onnx", "mxnet", "cv2")


def loaded_after(code: str) -> list[str]:
    """Which of ENGINE a fresh interpreter holds after running ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted(m for m in {ENGINE!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_parity_loads_no_numpy_and_no_engine():
    assert loaded_after("import parity; parity.__version__; dir(parity)") == []


def test_help_loads_no_numpy_and_no_engine():
    code = ("from parity.cli import main\nimport sys\nsys.argv = ['parity', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass")
    assert loaded_after(code) == []


def test_public_names_resolve_on_first_use():
    loaded = loaded_after("import parity\nassert callable(parity.compare)\n"
                          "assert issubclass(parity.ParityError, Exception)")
    assert {"numpy", "parity.api"} <= set(loaded)
    assert not {"torch", "onnxruntime", "mxnet", "cv2"} & set(loaded)


def test_unknown_attribute_is_an_attribute_error():
    import parity

    try:
        parity.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("parity.no_such_name resolved")
