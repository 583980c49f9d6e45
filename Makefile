# GenoCat Desktop: developer tasks. `make test` is what CI runs (.ci/run).

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
BIN     := $(VENV)/bin
PY      := $(BIN)/python
STAMP   := $(VENV)/.installed
PYTHON  ?= $(shell command -v python3.11 2>/dev/null || command -v python3)

.PHONY: help venv run system-deps lint typecheck test bench screenshot clean

help:
	@echo "make venv         create .venv and install the project with its dev tools"
	@echo "make run          run the application (.venv/bin/genocat)"
	@echo "make system-deps  install the Qt runtime libraries (Debian/Ubuntu, apt-get)"
	@echo "make lint         ruff check + import contracts (engine never imports Qt)"
	@echo "make typecheck    mypy"
	@echo "make test         system-deps, venv, lint, typecheck, then the test suite"
	@echo "make bench        benchmarks (bench/)"
	@echo "make screenshot   run the app under Xvfb: import, search, save docs/screenshot.png"
	@echo "make clean        remove caches and build outputs (keeps .venv)"

venv: $(STAMP)

# Re-installs when pyproject.toml changes; otherwise a no-op.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

run: venv
	$(BIN)/genocat

system-deps:
	bash scripts/install-system-deps.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

test: system-deps venv
	$(MAKE) lint
	$(MAKE) typecheck
	bash scripts/run-pytest.sh

bench: venv
	@if [ -f bench/__main__.py ]; then $(PY) -m bench; else echo "bench: no bench/__main__.py yet"; fi

# The real app under a virtual X server at 1280x800 (xvfb is installed by system-deps).
screenshot: venv
	xvfb-run -a -s '-screen 0 1280x800x24' env QT_QPA_PLATFORM=xcb $(PY) scripts/screenshot.py docs/screenshot.png

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache bench/out
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
