# The two commands of the README. Each works alone on a fresh clone with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
# Two workers: the suite keeps under 10 minutes on a 2-core machine.
PYTEST_ARGS ?= -n 2

.PHONY: run test install install-test chromium prometheus lint

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

# Debian's prometheus (prometheus and promtool) for the traffic tests and the demo's traffic:
# tests serve TSDB blocks from a copy on 127.0.0.1. The package starts a system Prometheus
# (and its node exporter) listening on every interface: stop it and keep it from starting.
prometheus:
	@{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq prometheus >/dev/null && \
	  for service in prometheus prometheus-node-exporter; do \
	    $(SUDO) systemctl disable --now $$service 2>/dev/null || \
	    { $(SUDO) service $$service stop 2>/dev/null; $(SUDO) update-rc.d $$service disable 2>/dev/null; }; \
	  done; true; }

## run: install into .venv and run meshui on its embedded default (SQLite, demo cluster),
## with Django's development server on ADDRPORT (`make run ADDRPORT=0.0.0.0:8080`).
ADDRPORT ?= 127.0.0.1:8000
run: install
	MESHUI_DEMO_FLEET=$${MESHUI_DEMO_FLEET-1} $(BIN)/python manage.py serve --addrport $(ADDRPORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## test: install everything and run the whole suite (on the machine's PostgreSQL and Redis).
test: install-test chromium prometheus lint
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest $(PYTEST_ARGS)
