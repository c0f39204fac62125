# `make test` and `make demo` each set up .venv on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-tf1-behavior test-legacy-keras test-gpu-kernels lint demo bench bench-ws bench-quick native clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[cpu,test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests
	$(MAKE) --no-print-directory test-tf1-behavior

# Most TF1 code bases start with tf.disable_v2_behavior(): reference
# variables, TF1 control flow and shapes.  The tests that build and run
# graphs in this process run again so (about two minutes); the ones that
# only drive subprocesses, and the whole Lasagne models (passed in a full
# run: TF1_WN_TEST_BEHAVIOR=tf1 pytest tests), are left to the first run.
TF1_BEHAVIOR_TESTS := tests/layers tests/rnn tests/lasagne \
	tests/checkpoint/test_checkpoint_evidence.py \
	tests/checkpoint/test_checkpoint_roundtrip.py \
	tests/checkpoint/test_checkpoint_foreign.py \
	tests/checkpoint/test_checkpoint_safety.py \
	tests/distributed/test_replicated_init.py tests/test_pixelcnn_compat.py \
	tests/test_validation.py tests/test_placement.py tests/test_geometry.py \
	--ignore=tests/layers/test_restart.py \
	--ignore=tests/lasagne/test_lasagne_models.py

test-tf1-behavior: $(STAMP)
	TF1_WN_TEST_BEHAVIOR=tf1 $(PY) -m pytest -q $(TF1_BEHAVIOR_TESTS)

# flake8 with the configuration in pyproject.toml ([tool.flake8]).
LINT_STAMP := $(VENV)/.lint-installed

$(LINT_STAMP): $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[lint]'
	touch $(LINT_STAMP)

lint: $(LINT_STAMP)
	$(VENV)/bin/flake8 .

# The legacy-Keras interop tests need tf-keras and TF_USE_LEGACY_KERAS=1 in
# their own process, so the default run keeps Keras 3.  tf-keras requires
# the full `tensorflow` wheel, so this virtualenv has it (and not
# tensorflow-cpu beside it): the GPU kernel registry test runs here too.
LEGACY_VENV ?= .venv-legacy-keras
LEGACY_STAMP := $(LEGACY_VENV)/.installed

$(LEGACY_STAMP): setup.py
	$(PYTHON) -m venv $(LEGACY_VENV)
	$(LEGACY_VENV)/bin/python -m pip install -q --disable-pip-version-check -e '.[test,legacy-keras]'
	touch $(LEGACY_STAMP)

test-legacy-keras: $(LEGACY_STAMP)
	TF_USE_LEGACY_KERAS=1 $(LEGACY_VENV)/bin/python -m pytest -q -m legacy_keras tests

# Every op of the graphs tf1-wn builds for a GPU has a GPU kernel (the full
# tensorflow wheel registers them; no GPU needed).  Fails instead of
# skipping when the kernels are missing.
test-gpu-kernels: $(LEGACY_STAMP)
	TF1_WN_REQUIRE_GPU_KERNELS=1 $(LEGACY_VENV)/bin/python -m pytest -q tests/test_gpu_kernels.py

demo: $(STAMP)
	$(PY) examples/demo.py

bench: $(STAMP)
	$(PY) benchmarks/bench_layers.py

bench-ws: $(STAMP)
	$(PY) benchmarks/bench_ws.py

# Every benchmark once, tiny (CI): proves they run, measures nothing.
BENCHMARKS := layers rnn ws checkpoint init models gpu native_ops op_breakdown
bench-quick: $(STAMP)
	for name in $(BENCHMARKS); do \
	    $(PY) benchmarks/bench_$$name.py --quick > /dev/null || exit 1; \
	done
	@echo "benchmarks ran (--quick): $(BENCHMARKS)"

# Compiles the native CPU kernels now rather than on first use (they land in
# $$TF1_WN_CACHE_DIR or ~/.cache/tf1_wn); for Docker images and offline use.
native: $(STAMP)
	$(VENV)/bin/tf1-wn build-native

clean:
	rm -rf $(VENV) $(LEGACY_VENV) build *.egg-info .pytest_cache
