# numpy-nn: every command sets itself up (a .venv beside this file) before it runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The tested set: exact versions of everything `make install/test/demo` and CI install (`make lock` refreshes it).
LOCK   := constraints/lock.txt
# The oldest versions pyproject.toml claims (`make test-oldest`).
OLDEST := constraints/oldest.txt
# Scratch environments of `make lock` and `make test-oldest` (build/ is ignored by git).
LOCK_VENV   := build/venv-lock
OLDEST_VENV := build/venv-oldest
# The data folder the tests and the demo use when it exists (a checkout beside ../shared).
SHARED_DATA := $(abspath ../shared/data/mnist-20k)
export NUMPY_NN_TEST_DATA ?= $(SHARED_DATA)

.PHONY: install test lock lock-check test-oldest parity-matrix parity-thorough parity-report demo bench bench-quick clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(LOCK) -e ".[tf,dev]"
	touch $(STAMP)

## make install: .venv with the project (editable) and exactly the versions in constraints/lock.txt
install: $(STAMP)

## make lock-check: .venv holds exactly constraints/lock.txt, nothing more or less (CI runs it)
lock-check: $(STAMP)
	grep -v '^#' $(LOCK) > $(VENV)/lock.expected
	$(BIN)/python -m pip freeze --exclude-editable | diff -u --label $(LOCK) --label "pip freeze of $(VENV)" $(VENV)/lock.expected -
	@echo "$(VENV) holds exactly the versions in $(LOCK)"

## make lock: refresh constraints/lock.txt: a fresh venv in build/venv-lock, the newest versions pyproject.toml's
## ranges allow (no constraints), their pip freeze written to the lock, then the whole suite run on them.
## Review `git diff constraints/lock.txt` and commit it by hand once the suite is green; to move to a
## release outside the ranges, raise pyproject.toml's bound first and run `make lock` and `make test-oldest`.
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install -q -e ".[tf,dev]"
	{ grep '^#' $(LOCK); $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	HYPOTHESIS_PROFILE=ci $(LOCK_VENV)/bin/python -m pytest -q -n auto parity_tests
	@echo "constraints/lock.txt refreshed and the suite passed on it: review git diff $(LOCK), then commit it"

## make test-oldest: the whole suite on the oldest versions pyproject.toml claims (constraints/oldest.txt:
## TensorFlow, Keras, NumPy, pytest, hypothesis, matplotlib, threadpoolctl) in build/venv-oldest
test-oldest: $(OLDEST_VENV)/.installed-stamp
	$(OLDEST_VENV)/bin/python -m pip freeze --exclude-editable | grep -i -E '^(tensorflow|keras|numpy|hypothesis|pytest|matplotlib)=='
	HYPOTHESIS_PROFILE=ci $(OLDEST_VENV)/bin/python -m pytest -q -n auto parity_tests

$(OLDEST_VENV)/.installed-stamp: pyproject.toml $(OLDEST)
	rm -rf $(OLDEST_VENV)
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(OLDEST_VENV)/bin/python -m pip install -q -c $(OLDEST) -e ".[tf,dev]"
	touch $@

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

## make demo: the main job, every tutorial model in NumPy and TensorFlow side by side, figures in out/demo,
## then where each model's four lockstep trainings part (numpy-nn diverge, out/demo/diverge/<model>/)
## (numpy-nn is the console script of numpy_nn.app.cli; python -m numpy_nn is the same)
demo: $(STAMP)
	$(BIN)/numpy-nn train --model all --backend both --limit 20000 --out out/demo
	for m in softmax mlp dropout cnn; do $(BIN)/numpy-nn diverge --model $$m --steps 200 --out out/demo/diverge/$$m --quiet || exit 1; done
	$(BIN)/numpy-nn diverge --model dropout --optimizer adam --steps 400 --train-hyperparameters --out out/demo/diverge/dropout-train --quiet

## make bench: NumPy vs TensorFlow timings (JSON, markdown table, plots) in bench-out/
bench: $(STAMP)
	$(BIN)/python -m benchmarks --out bench-out

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick --out bench-out/quick

clean:
	rm -rf $(VENV) $(LOCK_VENV) $(OLDEST_VENV) .pytest_cache .hypothesis *.egg-info
