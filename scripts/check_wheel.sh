#!/usr/bin/env bash
# Build the wheel, install it (not editable) into a fresh venv, and use it from outside the
# source tree: the CLI, a real comparison, and the pytest plugin. An editable install hides a
# package missing from the wheel; this does not.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$root/.venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps \
    --no-build-isolation -w "$work/dist" "$root"
wheel="$(ls "$work"/dist/parity-*.whl)"
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -c "$root/constraints.txt" \
    "$wheel[onnx]" pytest

cd "$work"
bin="$work/venv/bin"
"$bin/parity" --help >/dev/null
"$bin/parity" backends >/dev/null
"$bin/parity" compare "$root/fixtures/smallcnn.onnx" "$root/fixtures/smallcnn.onnx" --random --seed 0 \
    --format json --output "$work/report.json"
cat > "$work/test_wheel_plugin.py" <<PY
import parity

def test_same_model_agrees(parity_compare):
    parity_compare("$root/fixtures/smallcnn.onnx", "$root/fixtures/smallcnn.onnx", seed=0).assert_ok()

def test_assert_parity():
    parity.assert_parity("$root/fixtures/smallcnn.onnx", "$root/fixtures/smallcnn.onnx", seed=0)
PY
"$bin/python" -m pytest -q -p no:cacheprovider "$work/test_wheel_plugin.py"
echo "wheel check: $(basename "$wheel") installs and runs (CLI, compare, pytest plugin)"
