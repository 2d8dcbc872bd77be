# The two commands of the README. Each works alone on a fresh clone with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
# Two workers: the suite keeps under 10 minutes on a 2-core machine.
PYTEST_ARGS ?= -n 2

.PHONY: run test install install-test chromium lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser)
# and Debian's docker-compose, which validates docker-compose.yml without a Docker engine.
chromium:
	@{ command -v chromium && command -v docker-compose; } >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium docker-compose >/dev/null; }

## run: install into .venv and run meshui on its embedded default (SQLite, demo cluster).
run: install
	MESHUI_DEMO_FLEET=$${MESHUI_DEMO_FLEET-1} $(BIN)/python manage.py serve

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## test: install everything and run the whole suite (on the machine's PostgreSQL and Redis).
test: install-test chromium lint
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest $(PYTEST_ARGS)
