# Development tasks. `make test` is what CI runs (see .ci/run).

PYTHON ?= python3
VENV = .venv
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: test unit lint demo docs bench matrix clean venv unasync

# The server the tests start copies of: see ci/server-bin (installs redis-server if needed);
# the Chromium the dashboard's tests drive: see ci/browser-bin (installs chromium if needed).
test: lint
	@bin=$$(ci/server-bin $(VENV)/bin/python) && browser=$$(ci/browser-bin) && \
		AIOPYRQ_SERVER_BIN=$$bin AIOPYRQ_CHROMIUM=$$browser $(VENV)/bin/pytest $(PYTEST_ARGS)

# tests/unit alone: no server started, seconds, works on a machine without Redis.
unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks examples ci
	$(VENV)/bin/mypy

# Write the sync twin (aiopyrq.sync and its tests) from the asyncio source (ci/unasync.py);
# tests/unit/test_unasync.py fails while the committed twin is stale.
unasync: $(VENV)/.installed
	$(VENV)/bin/python ci/unasync.py

# The demo needs the library and a server only: a venv of its own, without the dev tools.
# It runs on $$REDIS_URL if that answers, else on a throwaway server (ci/server-bin).
DEMO_VENV = .venv-demo
DEMO_ARGS ?=
demo: $(DEMO_VENV)/.installed
	@bin=$$(if [ -z "$$REDIS_URL" ]; then ci/server-bin $(DEMO_VENV)/bin/python; fi) && \
		AIOPYRQ_SERVER_BIN=$$bin $(DEMO_VENV)/bin/python examples/demo.py $(DEMO_ARGS)

$(DEMO_VENV)/.installed: pyproject.toml
	@$(MAKE) --no-print-directory venv VENV_DIR=$(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[server]'
	touch $@

# The documentation site (mkdocs.yml, docs/) into site/, warnings as errors. Its Python
# examples run in the test suite (tests/integration/test_docs.py).
docs: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# The standalone behaviour suites on each redis-py, Python and transport (ci/matrix.py);
# MATRIX_ARGS=--list shows the combinations.
MATRIX_ARGS ?=
matrix: $(VENV)/.installed
	$(VENV)/bin/python ci/matrix.py $(MATRIX_ARGS)

# This library vs the original aio-py-rq 4.1.0 vs raw Redis Streams (see benchmarks/README.md).
bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

$(VENV)/.installed: pyproject.toml
	@$(MAKE) --no-print-directory venv VENV_DIR=$(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e '.[dev]'
	touch $@

# A virtual environment in VENV_DIR, for Python 3.10 or later. Debian ships Python without
# venv: install it when we may (root with apt-get), then retry; else say what to do.
VENV_DIR ?= $(VENV)
venv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || { \
		echo "$(PYTHON) is $$($(PYTHON) -V 2>&1): aio-py-rq needs Python 3.10 or later (make PYTHON=python3.12 ...)" >&2; \
		exit 1; }
	@$(PYTHON) -m venv $(VENV_DIR) 2>/dev/null || { \
		command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && \
		$(PYTHON) -m venv --clear $(VENV_DIR); \
	} || { \
		echo "cannot make a venv: install python3-venv (sudo apt-get install python3-venv)" >&2; \
		rm -rf $(VENV_DIR); exit 1; }

clean:
	rm -rf $(VENV) $(DEMO_VENV) .matrix build dist site .pytest_cache .mypy_cache .ruff_cache .coverage
	find src tests -name __pycache__ -type d -prune -exec rm -rf {} +
