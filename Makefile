# Two commands do all the set-up on a machine with only Python 3.11 and make:
#   make run    start a one-machine deployment (log + witness, local data dir)
#   make test   lint, type-check and run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-deps test-all lint typecheck proto proto-check bench bench-quick clean

# make run installs the runtime dependencies only; make test and make bench add their extras.
RUN_STAMP := $(VENV)/.installed-run

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# ARGS passes options to 'auditlog up', e.g. make run ARGS="--port 7610 --metrics-port 7611
# --http-port 7612 --witness-port 7710" (see 'auditlog up --help').
run: $(RUN_STAMP)
	$(BIN)/auditlog up $(ARGS)

# Generated gRPC code is committed; proto-check fails when it is not what the .proto gives.
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. auditlog_tlog/proto/auditlog.proto

proto-check: $(STAMP)
	$(BIN)/python tests/proto_check.py

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy .

# Debian packages the tests need: systemd (systemd-analyze checks the units in deploy/), the
# producers the ingestion tests run (tests/server/ingest): rsyslog with its TLS and RELP modules,
# and nginx; chromium for the console's browser tests (tests/console); strace, which watches the
# WAL syncs (tests/storage/test_walsync.py). Missing ones are installed with apt-get as root;
# otherwise the command to run is printed and make stops.
TEST_DEBS := systemd rsyslog rsyslog-gnutls rsyslog-relp nginx chromium strace

test-deps:
	@missing=""; for pkg in $(TEST_DEBS); do \
	  dpkg -s "$$pkg" >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	  else echo "missing test packages:$$missing; run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; fi; \
	fi

# The servers the tests start import our package from this checkout (an editable install):
# byte-compile it once, as installing the wheel would, or every start compiles ~200 modules
# again when PYTHONDONTWRITEBYTECODE is set (docs/startup.md).
PACKAGES := tree storage server witness client common proto

test: test-deps proto-check lint typecheck
	$(BIN)/python -m compileall -q $(PACKAGES)
	$(BIN)/pytest -q --durations=15

test-all: test-deps proto-check lint typecheck
	$(BIN)/python -m compileall -q $(PACKAGES)
	$(BIN)/pytest -q -m ''

# Benchmarks (BENCHMARKS.md): a JSON report and plots in bench-results/, a table on the terminal.
# bench: ~20 minutes on 2 cores, builds a 10^7-entry log over gRPC; bench-quick: a few minutes.
$(VENV)/.bench-installed: $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python bench/run.py

bench-quick: $(VENV)/.bench-installed
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .hypothesis
