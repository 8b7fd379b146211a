# Parlay: `make run` serves with embedded defaults (SQLite, one process); `make test` runs the suite.
# Both bootstrap .venv from requirements.lock on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Where `make run` serves: `make run PORT=8081 HOST=0.0.0.0`.
HOST ?= 127.0.0.1
PORT ?= 8080
# The suite runs on every core (pytest-xdist; each worker has its own databases):
# `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= auto

.PHONY: run test lint typecheck check bench lock clean chromium screenshots

$(STAMP): requirements.lock pyproject.toml
	@echo "building $(VENV) from requirements.lock (first run only: about a minute)..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@echo "$(VENV) ready"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/parlay serve --demo --host $(HOST) --port $(PORT)

# Lint, format check, type-check (the tests too), then the suite with branch coverage: the run
# fails if coverage falls under the floor in pyproject.toml ([tool.coverage.report] fail_under).
test: $(STAMP) chromium
	$(BIN)/python -m ruff check parlay tests bench
	$(BIN)/python -m ruff format --check parlay tests bench
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal --cov --cov-report=term $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium (never a browser Playwright downloads): install it
# when it is missing, with sudo only when not root; apt-get update first if the install fails.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
chromium:
	@test -x $(CHROMIUM) || $(SUDO) env $(APT_INSTALL) || \
		{ $(SUDO) apt-get update && $(SUDO) env $(APT_INSTALL); }

# The web tool's screenshots in docs/img/, taken by its browser tests (laptop width).
screenshots: $(STAMP) chromium
	PARLAY_SCREENSHOTS=docs/img $(BIN)/python -m pytest -q -p no:cacheprovider tests/web/test_admin_browser.py

lint: $(STAMP)
	$(BIN)/python -m ruff check parlay tests bench
	$(BIN)/python -m ruff format --check parlay tests bench

typecheck: $(STAMP)
	$(BIN)/python -m mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Re-resolve the lock file after changing dependencies in pyproject.toml.
lock:
	$(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
