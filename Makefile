# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test wheel-check fixtures bench-quick

setup: $(VENV)/.installed

# onnx2torch (a converter of the test corpus, tests/realmodels) declares torchvision, which
# breaks this torch and transformers: it is installed without dependencies (it needs no other).
$(VENV)/.installed: pyproject.toml constraints.txt setup.py parity/_metrics_kernel.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[all,test]'
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps onnx2torch==1.5.15
	touch $@

# Three runs, each with a banner saying what it shows and what to expect; exit 0 when each
# ended as expected (two of them are meant to find a divergence).
demo: setup
	bash scripts/demo.sh $(BIN)

test: setup
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check .
	$(MAKE) wheel-check

# The built wheel, installed (not editable) into a fresh venv, used from outside the tree.
wheel-check: setup
	bash scripts/check_wheel.sh

# Benchmarks in their quick mode (not part of `make test`: one repetition on a shared
# machine measures noise). Full sizes: docs/performance.md.
bench-quick: setup
	$(BIN)/python benchmarks/stages.py --quick --output /dev/null
	$(BIN)/python benchmarks/sweep_rate.py

# Rebuild the committed fixtures (seeded, byte-identical). face.jpg needs scikit-image.
fixtures: setup
	$(BIN)/python fixtures/build_smallcnn.py
	$(BIN)/python fixtures/mobilefacenet/build_mxnet.py
	$(BIN)/python fixtures/mobilefacenet/convert_to_caffe.py
	$(BIN)/python fixtures/caffe_torch/build.py
	$(BIN)/python fixtures/keras/build.py
