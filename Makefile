# Development tasks. `make test` is what CI runs (see .ci/run).

PYTHON ?= python3
VENV = .venv
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: test unit lint demo bench matrix clean unasync

test: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

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

demo: $(VENV)/.installed
	$(VENV)/bin/python examples/demo.py

# The standalone behaviour suites on each redis-py, Python and transport (ci/matrix.py);
# MATRIX_ARGS=--list shows the combinations.
MATRIX_ARGS ?=
matrix: $(VENV)/.installed
	$(VENV)/bin/python ci/matrix.py $(MATRIX_ARGS)

# This library vs the original aio-py-rq 4.1.0 vs raw Redis Streams (see benchmarks/README.md).
bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

# Debian ships Python without venv: install it when we may (root with apt-get), then retry.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) || { \
		command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv && \
		$(PYTHON) -m venv --clear $(VENV); \
	}
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .matrix build dist .pytest_cache .mypy_cache .ruff_cache .coverage
	find src tests -name __pycache__ -type d -prune -exec rm -rf {} +
