# GenoCat Desktop: developer tasks. `make test` is what CI runs (.ci/run).

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
BIN     := $(VENV)/bin
PY      := $(BIN)/python
STAMP   := $(VENV)/.installed
PYTHON  ?= $(shell command -v python3.11 2>/dev/null || command -v python3)

BUNDLE     := dist/genocat
BUNDLE_EXE := $(BUNDLE)/genocat
# What the frozen app is made of: a change to any of these rebuilds it.
BUNDLE_SRC := pyproject.toml packaging/genocat.spec packaging/entry.py packaging/trim_icu.py $(wildcard packaging/linux/*) \
              $(shell find genocat_desktop -type f -not -path '*/__pycache__/*' 2>/dev/null)

.PHONY: help venv run system-deps lint typecheck test bench screenshot bundle selftest-bundle bundle-bench clean

help:
	@echo "make venv         create .venv and install the project with its dev tools"
	@echo "make run          run the application (.venv/bin/genocat)"
	@echo "make system-deps  install the Qt runtime libraries (Debian/Ubuntu, apt-get)"
	@echo "make lint         ruff check + import contracts (engine never imports Qt)"
	@echo "make typecheck    mypy"
	@echo "make test         system-deps, venv, lint, typecheck, bundle, then the test suite (frozen app too)"
	@echo "make bundle       build the desktop app with PyInstaller into dist/genocat/ (one folder)"
	@echo "make selftest-bundle  run the frozen app's self-test (offscreen window, import, search, export, ONNX)"
	@echo "make bundle-bench bundle size by package, cold/warm start to first window (frozen and source), self-test time"
	@echo "make release      dist/genocat-VERSION-linux-x86_64.tar.gz and dist/genocat_VERSION_amd64.deb"
	@echo "make check-deb    install, self-test and remove the .deb in a minimal Debian 12 root (root, debootstrap)"
	@echo "make bench        benchmarks (bench/)"
	@echo "make screenshot   run the app under Xvfb: save docs/screenshot.png, results-*.png (1024x700, 150 %, dark), schema.png, ..."
	@echo "make clean        remove caches and build outputs (keeps .venv)"

venv: $(STAMP)

# Re-installs when pyproject.toml or the compiled k-mer loop changes; otherwise a no-op.
$(STAMP): pyproject.toml setup.py genocat_desktop/engine/embed/embedders/_kmer_count.pyx genocat_desktop/engine/search/_seeds.pyx genocat_desktop/engine/search/_composition.pyx
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

# The suite includes tests/test_packaging.py's frozen-app tests (self-test, file argument, install
# script on the real bundle); GENOCAT_BUNDLE makes them fail, not skip, if the bundle is missing.
test: system-deps venv
	$(MAKE) lint
	$(MAKE) typecheck
	$(MAKE) bundle
	GENOCAT_BUNDLE=$(BUNDLE) bash scripts/run-pytest.sh

bench: venv
	@if [ -f bench/__main__.py ]; then $(PY) -m bench; else echo "bench: no bench/__main__.py yet"; fi

# The real app under a virtual X server at 1280x800 (xvfb is installed by system-deps).
# The results view at 1280x800 (docs/screenshot.png, in the README), 1024x700 and 150 % scaling (a
# 1440x900 screen: 960x600 logical pixels), each in the light and the dark palette.
SHOT = xvfb-run -a -s '-screen 0 $(1)x24' env QT_QPA_PLATFORM=xcb $(2) $(PY) scripts/screenshot.py

screenshot: venv
	$(call SHOT,1280x800) docs/screenshot.png --size 1280x800
	$(call SHOT,1280x800) docs/results-1280x800-dark.png --size 1280x800 --dark
	$(call SHOT,1024x700) docs/results-1024x700.png --size 1024x700
	$(call SHOT,1024x700) docs/results-1024x700-dark.png --size 1024x700 --dark
	$(call SHOT,1440x900,QT_SCALE_FACTOR=1.5) docs/results-150pct.png --size 960x600
	$(call SHOT,1440x900,QT_SCALE_FACTOR=1.5) docs/results-150pct-dark.png --size 960x600 --dark
	xvfb-run -a -s '-screen 0 1280x800x24' env QT_QPA_PLATFORM=xcb $(PY) scripts/screenshot_pages.py docs
	xvfb-run -a -s '-screen 0 1280x800x24' env QT_QPA_PLATFORM=xcb $(PY) scripts/screenshot_storage.py docs
	xvfb-run -a -s '-screen 0 1280x800x24' env QT_QPA_PLATFORM=xcb $(PY) scripts/screenshot_models.py docs/models.png

# One folder, two executables (genocat-desktop, genocat), plus the desktop integration files so that
# an unpacked copy of dist/genocat/ installs itself with its own ./install.sh.
bundle: $(BUNDLE_EXE)

$(BUNDLE_EXE): $(STAMP) $(BUNDLE_SRC)
	rm -rf $(BUNDLE)
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller \
	    packaging/genocat.spec
	install -m 0755 packaging/linux/install.sh packaging/linux/uninstall.sh $(BUNDLE)/
	mkdir -p $(BUNDLE)/share
	install -m 0644 packaging/linux/genocat.desktop packaging/linux/genocat-fasta.xml \
	    genocat_desktop/resources/icons/genocat.svg genocat_desktop/resources/icons/genocat-*.png $(BUNDLE)/share/
	touch $(BUNDLE_EXE)
	@du -sh $(BUNDLE)

selftest-bundle: bundle
	$(BUNDLE_EXE) --selftest

bundle-bench: bundle
	$(PY) packaging/measure.py $(BUNDLE)
	$(PY) bench/start_bench.py --bundle $(BUNDLE)

# The downloads: the bundle folder as a tarball (with its install.sh) and a .deb (packaging/release.sh).
.PHONY: release check-deb
release: bundle
	bash packaging/release.sh $(BUNDLE) dist

# The .deb in a fresh debootstrap'ed Debian 12 root: apt-get install, --selftest, purge, nothing left.
check-deb:
	GENOCAT_REQUIRE_CHECK=1 bash packaging/check-deb.sh

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache bench/out
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
