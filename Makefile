# thidua: `make up` runs it all, `make test` passes the tests; both bootstrap .venv first.
SHELL := /bin/bash

VENV       := .venv
VENV_PY    := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
# python3.11 if there is one, else python3 (override: make PYTHON=/path/to/python venv)
PYTHON     ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
EXTRAS     ?= test
PYTEST_ARGS ?=

.PHONY: venv chromium test test-tools up bench bench-large clean distclean

venv: $(STAMP)

$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(VENV_PY)
	$(VENV_PY) -m pip install -e '.[$(EXTRAS)]'
	touch $(STAMP)

# The browser tests (tests/browser) drive Debian's Chromium: installed here when it is missing
# and we are root (Playwright's own download is not reachable everywhere). Otherwise those
# tests fail and say how to get a browser.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# The README tour's test (tests/e2e/test_readme_tour.py) pastes the tour into bash, which
# uses jq as a reader would: installed here when missing and we are root on apt; else a hint.
test-tools:
	@command -v jq >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get install -y -qq jq >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq jq; }; }; } \
	  || echo "make test: jq is missing (the README tour's test needs it): install it, e.g. apt-get install jq" >&2

test: venv test-tools chromium
	$(VENV_PY) -m pytest -q $(PYTEST_ARGS)

up: venv
	$(VENV)/bin/thidua up

# The benchmarks also need the profilers (py-spy, pyinstrument) of the `bench` extra.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(VENV_PY) -m pip install -e '.[$(EXTRAS),bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(VENV_PY) -m bench

bench-large: $(BENCH_STAMP)
	$(VENV_PY) -m bench --large

# Build and test leftovers; keeps .venv and the dev data in .thidua/ (see distclean).
clean:
	rm -rf build dist .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# Everything clean removes, plus the virtualenv.
distclean: clean
	rm -rf $(VENV)
