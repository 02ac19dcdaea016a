# The two commands a fresh machine needs are `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint chromium curl pytest bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/postback serve --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

# The browser test drives Debian's Chromium (never a downloaded browser build).
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium for the browser test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "could not install chromium with apt-get (root and Debian's packages needed); the browser test will skip, or fail under CI=true"; \
	}

# The demo test runs the curl commands `make run` prints.
curl:
	@command -v curl >/dev/null || { \
	  echo "installing curl for the demo test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; } \
	  || echo "could not install curl with apt-get; the demo test will skip, or fail under CI=true"; \
	}

test: lint chromium curl pytest

# pytest exits 5 when it collected no tests: said plainly, and a failure like any other.
pytest: $(STAMP)
	@$(BIN)/pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; fi; \
	exit $$rc

bench: $(STAMP)
	$(BIN)/python -m benchmarks --mode full

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --mode quick

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
