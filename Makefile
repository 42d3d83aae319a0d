# numpy-nn: every command sets itself up (a .venv beside this file) before it runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The data folder the tests and the demo use when it exists (a checkout beside ../shared).
SHARED_DATA := $(abspath ../shared/data/mnist-20k)
export NUMPY_NN_TEST_DATA ?= $(SHARED_DATA)

.PHONY: install test parity-matrix parity-thorough parity-report demo bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[tf,dev]"
	touch $(STAMP)

install: $(STAMP)

## make test: the whole suite (unit, finite differences, TensorFlow parity, CLI, data) under the ci profile
test: $(STAMP)
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q -n auto parity_tests

## make parity-matrix: the TensorFlow-facing parity tests with oneDNN forced on and off, on 1 and 2
## threads: one line per configuration (full logs in out/parity-matrix/)
MATRIX_ARGS ?=
parity-matrix: $(STAMP)
	$(BIN)/python -m parity_tests.matrix $(MATRIX_ARGS)

## make parity-thorough: the parity properties with >= 500 examples each, on every core (pytest-xdist)
parity-thorough: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -q -n auto parity_tests -m "not slow"

## make parity-report: the op-by-op parity table (op, dtype, examples, max errors, tolerance, pass/fail);
## parity_tests and benchmarks are not installed: they run from this checkout (python -m ...)
parity-report: $(STAMP)
	$(BIN)/python -m parity_tests.report

## make demo: the main job, every tutorial model in NumPy and TensorFlow side by side, figures in out/demo
## (numpy-nn is the console script of numpy_nn.app.cli; python -m numpy_nn is the same)
demo: $(STAMP)
	$(BIN)/numpy-nn train --model all --backend both --limit 20000 --out out/demo

## make bench: NumPy vs TensorFlow timings (JSON, markdown table, plots) in bench-out/
bench: $(STAMP)
	$(BIN)/python -m benchmarks --out bench-out

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick --out bench-out/quick

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
